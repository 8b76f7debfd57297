"""`RemoteMonitor`: POST each epoch's logs to a server, with the standard library's urllib.

Keras behaviour kept: the payload is `{"epoch": epoch, **logs}` (NumPy scalars unwrapped), sent
to `root + path` as JSON (`send_as_json=True`) or as a form whose `field` holds the JSON text;
custom `headers` are added; an unreachable server gives a warning and training continues; the
server's HTTP status is not checked. Deliberate difference: Keras needs `requests`, tkeras does
not; torch scalar tensors in the logs are unwrapped like NumPy scalars.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np
import torch

from tkeras.core.registry import keras_export
from tkeras.fit.callbacks.callback import Callback


@keras_export("keras.callbacks.RemoteMonitor")
class RemoteMonitor(Callback):
    """Stream `on_epoch_end` logs to `root + path` with an HTTP POST."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
                value = value.item()
            send[key] = value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the server answered; like `requests.post`, the status is not checked
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                          stacklevel=2)

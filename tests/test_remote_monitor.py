"""`keras.callbacks.RemoteMonitor` against a local `http.server`, compared with what Keras
(which posts with `requests`) sends to the same kind of server."""

import json
import urllib.parse
import warnings

import numpy as np
import pytest
from keras_oracle import requires_keras, run_keras

import tkeras as keras
from tkeras.callbacks import RemoteMonitor

# Shared by this process and the Keras subprocess: a server recording every POST.
SERVER_CODE = '''
import http.server, threading

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, "body": body.decode(),
                                     "type": self.headers.get("Content-Type"),
                                     "token": self.headers.get("X-Token")})
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass

def start_server(status=200):
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.received, server.status = [], status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

def post_all(callback_cls, server):
    root = f"http://127.0.0.1:{server.server_port}"
    logs = {"loss": np.float32(0.5), "acc": np.array(0.25), "lr": 0.1, "n": 3}
    callback_cls(root=root).on_epoch_end(0, logs)
    callback_cls(root=root, send_as_json=True, headers={"X-Token": "t"}).on_epoch_end(1, logs)
    callback_cls(root=root, path="/custom", field="payload").on_epoch_end(2, logs)
    return server.received
'''
exec(SERVER_CODE)

UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1

KERAS_CODE = SERVER_CODE + f"""
import warnings
server = start_server()
outputs["received"] = post_all(keras.callbacks.RemoteMonitor, server)
server.shutdown()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    keras.callbacks.RemoteMonitor(root="{UNREACHABLE}").on_epoch_end(0, {{}})
outputs["warnings"] = [str(w.message) for w in caught]
"""


@pytest.fixture(scope="module")
def oracle():
    return run_keras(KERAS_CODE)


@pytest.fixture
def server():
    server = start_server()  # noqa: F821 (defined by SERVER_CODE)
    yield server
    server.shutdown()
    server.server_close()


@requires_keras
def test_requests_match_keras(oracle, server):
    received = post_all(RemoteMonitor, server)  # noqa: F821
    assert len(received) == 3
    for ours, theirs in zip(received, oracle["received"]):
        assert ours["path"] == theirs["path"]
        assert ours["type"] == theirs["type"]
        assert ours["token"] == theirs["token"]
        assert ours["body"] == theirs["body"]
    form = urllib.parse.parse_qs(received[0]["body"])
    assert json.loads(form["data"][0]) == {"epoch": 0, "loss": 0.5, "acc": 0.25, "lr": 0.1, "n": 3}
    assert json.loads(received[1]["body"])["epoch"] == 1
    assert received[2]["path"] == "/custom" and "payload" in urllib.parse.parse_qs(
        received[2]["body"])


@requires_keras
def test_unreachable_server_warns_as_keras(oracle):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RemoteMonitor(root=UNREACHABLE).on_epoch_end(0, {"loss": 1.0})
    assert [str(w.message) for w in caught] == oracle["warnings"]


def test_http_error_status_is_ignored():
    server = start_server(status=500)  # noqa: F821
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}").on_epoch_end(0, {})
        assert len(server.received) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_fit_posts_every_epoch(server):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    monitor = RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}", send_as_json=True)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[monitor])
    sent = [json.loads(r["body"]) for r in server.received]
    assert [s["epoch"] for s in sent] == [0, 1]
    assert [s["loss"] for s in sent] == pytest.approx(history.history["loss"])

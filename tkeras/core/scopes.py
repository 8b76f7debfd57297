"""Top-level Keras context helpers: `keras.device`, `keras.name_scope`, `keras.remat`,
`keras.RematScope`."""

import collections
import contextlib
import functools
import math

import torch

from tkeras.core.registry import keras_export


def _torch_device(device_name):
    """Keras device names ("cpu", "gpu:1", "cuda:0", "tpu") as a torch device."""
    name = str(device_name).lower()
    kind, _, index = name.partition(":")
    kind = {"gpu": "cuda"}.get(kind, kind)
    if kind == "tpu":
        from tkeras.parallel import xla

        return xla.device()
    return torch.device(f"{kind}:{index}" if index else kind)


@keras_export("keras.device")
@contextlib.contextmanager
def device(device_name):
    """Create tensors and variables on `device_name` ("cpu", "gpu:0", ...) inside the block
    (torch's default-device context)."""
    with _torch_device(device_name):
        yield


@keras_export("keras.name_scope")
class name_scope:
    """Prefix the paths of variables created inside the block: `name/layer/kernel` (Keras's
    name scopes; they nest)."""

    def __init__(self, name, **kwargs):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Invalid name scope {name!r}: a string without '/' is expected.")
        self.name = name

    def __enter__(self):
        from tkeras.layers.layer import CALL_STATE

        CALL_STATE.name_scope.append(self.name)
        return self

    def __exit__(self, *exc):
        from tkeras.layers.layer import CALL_STATE

        CALL_STATE.name_scope.pop()


@keras_export("keras.remat")
def remat(f):
    """`f` recomputed in the backward pass instead of keeping its activations
    (`torch.utils.checkpoint`, non-reentrant)."""

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        return torch.utils.checkpoint.checkpoint(f, *args, use_reentrant=False, **kwargs)

    return wrapped


RematMode = collections.namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])
_REMAT_MODES = ("full", "activations", "larger_than", "list_of_layers", None)
_REMAT_STACK = []


@keras_export("keras.RematScope")
class RematScope:
    """Layers created inside the block recompute their activations in the backward pass.

    As Keras: `mode="full"` (every layer call), `"activations"` (only the `activation` of
    layers that have one), `"larger_than"` (layers whose output has more than
    `output_size_threshold` elements, batch included), `"list_of_layers"` (layers named in
    `layer_names`), `None` (off, e.g. in a nested scope). The mode is fixed when a layer is
    created; the innermost scope wins. Gradients are unchanged; the recomputation uses
    `torch.utils.checkpoint` (non-reentrant).
    """

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in _REMAT_MODES:
            raise ValueError(
                f"Invalid mode '{mode}'. Supported modes are: 'full', 'activations', "
                "'larger_than', 'list_of_layers', or  None."
            )
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = layer_names or []

    def __enter__(self):
        _REMAT_STACK.append(self)
        return self

    def __exit__(self, *exc):
        _REMAT_STACK.remove(self)


def get_current_remat_mode():
    """The innermost `RematScope`'s `RematMode(mode, output_size_threshold, layer_names)`, or
    None outside any scope."""
    if not _REMAT_STACK:
        return None
    scope = _REMAT_STACK[-1]
    return RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)


def rematerialized_call(layer, layer_call, *args, **kwargs):
    """`layer_call`, wrapped for recomputation as `layer._remat_mode` asks (Keras's
    `Layer.rematerialized_call`), for a call on `args`/`kwargs`."""
    mode = layer._remat_mode
    if not mode or mode.mode is None:
        return layer_call
    if mode.mode == "full":
        return remat(layer_call)
    if mode.mode == "activations":
        activation = getattr(layer, "activation", None)
        if activation is None or isinstance(activation, torch.nn.Module):
            return layer_call

        @functools.wraps(layer_call)
        def call_with_remat_activation(*call_args, **call_kwargs):
            layer.activation = remat(activation)
            try:
                return layer_call(*call_args, **call_kwargs)
            finally:
                layer.activation = activation

        return call_with_remat_activation
    if mode.mode == "list_of_layers":
        return remat(layer_call) if layer.name in mode.layer_names else layer_call
    # "larger_than": the output size from the layer's symbolic output spec.
    if mode.output_size_threshold < _output_size(layer, args, kwargs):
        return remat(layer_call)
    return layer_call


def _output_size(layer, args, kwargs):
    from tkeras.model.keras_tensor import KerasTensor

    def to_spec(x):
        if isinstance(x, torch.Tensor):
            return KerasTensor(tuple(x.shape), dtype=str(x.dtype).replace("torch.", ""))
        if isinstance(x, (list, tuple)):
            return type(x)(to_spec(v) for v in x)
        if isinstance(x, dict):
            return {k: to_spec(v) for k, v in x.items()}
        return x

    def sizes(spec):
        if isinstance(spec, KerasTensor):
            return [math.prod(d or 1 for d in spec.shape)]
        if isinstance(spec, (list, tuple)):
            return [n for s in spec for n in sizes(s)]
        if isinstance(spec, dict):
            return [n for s in spec.values() for n in sizes(s)]
        return []

    spec = layer.compute_output_spec(*to_spec(list(args)), **to_spec(dict(kwargs)))
    return sum(sizes(spec))

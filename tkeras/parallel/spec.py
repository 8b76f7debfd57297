"""Keras 3's distribution spec objects: `DeviceMesh`, `TensorLayout`, `LayoutMap`, `DataParallel`,
`ModelParallel`, plus tkeras's `FullyShardedDataParallel` and `LightningStrategy`.

Kept from Keras (keras/src/distribution/distribution_lib.py): names, arguments, validation
messages, `LayoutMap`'s regex lookup (`tkeras.core.path_map`: exact key first, then
`re.fullmatch`, more than one match is an error), `DataParallel`'s 1-D "batch" mesh,
`ModelParallel`'s `batch_dim_name` defaulting to the first mesh axis, `num_model_replicas`,
`data_shard_id`, `scope()`.

Devices are strings `"<type>:<id>"`. On torch every device is one process: device `i` of a mesh
is global rank `i` (`"gpu:3"` is rank 3). Deliberate extension: `devices` may be an int (that
many processes on this machine), e.g. `DataParallel(devices=4)`.
"""

import collections.abc
import contextlib
import math
import warnings

import numpy as np

from tkeras.core import path_map
from tkeras.core.registry import keras_export

DEFAULT_BATCH_DIM_NAME = "batch"
_STATE = {"distribution": None}


def _device_strings(devices):
    if isinstance(devices, int):
        from tkeras.parallel.runtime import default_device_type

        return [f"{default_device_type()}:{i}" for i in range(devices)]
    return devices


def device_rank(device):
    """Global rank of a device string (`"gpu:3"` -> 3)."""
    text = str(device)
    try:
        return int(text.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise ValueError(f"Devices are named '<type>:<id>', e.g. 'gpu:0'. Received: {device!r}")


@keras_export("keras.distribution.DeviceMesh")
class DeviceMesh:
    """A cluster of devices (one process each) with named axes, like `jax.sharding.Mesh`."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError("Shape and axis_names cannot be empty. Received: "
                             f"shape={shape}, axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError("Shape and axis_names should have same size. "
                             f"Received: shape={shape}, axis_names={axis_names}")
        if devices is None:
            from tkeras.parallel.runtime import list_devices

            devices = list_devices()
        devices = np.array(_device_strings(devices))
        if math.prod(shape) != math.prod(devices.shape):
            raise ValueError("Shape does not match the number of devices. "
                             f"Received: shape={shape}; devices.shape={devices.shape}")
        self._shape = shape
        self._axis_names = axis_names
        self._devices = np.reshape(devices, shape)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    @property
    def ranks(self):
        """The devices as global process ranks (an int array of `shape`)."""
        return np.vectorize(device_rank, otypes=[np.int64])(self._devices)

    @property
    def device_type(self):
        return str(self._devices.flat[0]).rsplit(":", 1)[0]

    @property
    def backend_mesh(self):
        """The `torch.distributed.DeviceMesh` (needs the process group: see `initialize`)."""
        from tkeras.parallel.runtime import torch_mesh

        return torch_mesh(self)

    def __repr__(self):
        return f"<{self.__class__.__name__} shape={self.shape}, axis_names={self.axis_names}>"

    __str__ = __repr__


@keras_export("keras.distribution.TensorLayout")
class TensorLayout:
    """Per-dimension mesh axis names (`None`: not sharded), like `jax.sharding.NamedSharding`."""

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError("Cannot override device mesh value. Existing "
                             f"value is {self._device_mesh}")
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def backend_layout(self):
        """The torch DTensor placements of this layout on its mesh."""
        from tkeras.parallel.sharding import placements_for

        return placements_for(self.axes, self._device_mesh)

    def _validate_axes(self):
        if self._device_mesh:
            valid = set(self._device_mesh.axis_names)
            names = set(self._axes) - {None}
            if names - valid:
                raise ValueError(f"Invalid axis names for Layout. Valid axis names: {valid}, "
                                 f"Got {names}")

    def __repr__(self):
        return f"<{self.__class__.__name__} axes={self.axes}, device_mesh={self.device_mesh}>"

    __str__ = __repr__


class Distribution:
    """Base class: how variables and data are laid out on a `DeviceMesh`."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = auto_shard_dataset

    @property
    def num_processes(self):
        """Processes in the run (read live: a plain-python run starts them at `set_distribution`)."""
        from tkeras.parallel import runtime

        return runtime.num_processes()

    @property
    def _process_id(self):
        from tkeras.parallel import runtime

        return runtime.process_id()

    @property
    def _is_multi_process(self):
        return self.num_processes > 1

    @property
    def num_model_replicas(self):
        raise NotImplementedError()

    @property
    def data_shard_id(self):
        replicas = self.num_model_replicas
        if replicas >= self.num_processes:
            return self._process_id
        return self._process_id // (self.num_processes // replicas)

    def get_data_layout(self, data_shape):
        spec = [None] * len(data_shape)
        spec[0] = self.batch_dim_name
        return TensorLayout(spec, self.device_mesh)

    def get_variable_layout(self, variable):
        raise NotImplementedError()

    def get_tensor_layout(self, path):
        raise NotImplementedError()

    @contextlib.contextmanager
    def scope(self):
        original = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(original)

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @auto_shard_dataset.setter
    def auto_shard_dataset(self, value):
        self._auto_shard_dataset = value

    def distribute_dataset(self, dataset):
        """This process's share of `dataset` (see `tkeras.parallel.data.shard_inputs`)."""
        if not self._is_multi_process or not self.auto_shard_dataset:
            return dataset
        from tkeras.parallel import data

        return data.shard_dataset(dataset, self)

    def __repr__(self):
        return f"<{self.__class__.__name__} device_mesh={self.device_mesh}>"

    __str__ = __repr__


def _mesh_from_devices(devices):
    devices = np.array(_device_strings(devices))
    return DeviceMesh(shape=devices.shape, axis_names=[DEFAULT_BATCH_DIM_NAME], devices=devices)


@keras_export("keras.distribution.DataParallel")
class DataParallel(Distribution):
    """Replicate the variables on every device; each device gets a slice of every batch.

    On torch: one process per device (launched by tkeras for `devices=N` in a plain `python`
    run, or by torchrun/SLURM), gradients averaged over the processes as DDP does.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError("Expect `mesh` to be an instance of `DeviceMesh`. "
                                 f"Received: mesh={device_mesh} (of type {type(device_mesh)})")
            super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)
            if self.device_mesh.devices.ndim != 1:
                warnings.warn("Expect the input mesh to be 1D, but received mesh.devices.ndim="
                              f"{device_mesh.devices.ndim}. The first axis will be used for "
                              "data-parallel sharding.")
        else:
            if not devices:
                from tkeras.parallel.runtime import list_devices

                devices = list_devices()
            super().__init__(_mesh_from_devices(devices), DEFAULT_BATCH_DIM_NAME,
                             auto_shard_dataset)

    @property
    def num_model_replicas(self):
        return self.device_mesh.devices.size

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return None


@keras_export("keras.distribution.ModelParallel")
class ModelParallel(Distribution):
    """Shard variables by `LayoutMap` (regex over `variable.path`) and data on `batch_dim_name`.

    On torch: mesh axes other than the batch axis become a torch `DeviceMesh` and sharded
    variables compute as DTensors (tensor parallel); a layout axis that names the batch axis
    shards that variable FSDP-style (gathered for the forward, gradients reduce-scattered).
    Layouts follow Keras's variable shapes: a `Dense` kernel is `(in, out)`, so
    `(None, "model")` is column parallel and `("model", None)` row parallel.
    """

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True,
                 **kwargs):
        kwargs.pop("device_mesh", None)
        if layout_map is None:
            raise ValueError("You must specify a layout_map argument.")
        if not isinstance(layout_map, LayoutMap):
            raise ValueError("Argument `layout_map` must be a `LayoutMap` instance. "
                             f"Received: layout_map={layout_map}")
        device_mesh = layout_map.device_mesh
        batch_dim_name = batch_dim_name or device_mesh.axis_names[0]
        super().__init__(device_mesh, batch_dim_name, auto_shard_dataset)
        self._layout_map = layout_map
        if (self._is_multi_process and self.num_processes > self.num_model_replicas
                and self.num_processes % self.num_model_replicas != 0):
            raise ValueError(
                "If `num_processes` is greater than `num_model_replicas`, `num_processes` must "
                "be divisible by `num_model_replicas`. Got num_processes="
                f"{self.num_processes}, num_model_replicas={self.num_model_replicas}.")

    @property
    def num_model_replicas(self):
        index = self.device_mesh.axis_names.index(self.batch_dim_name)
        return self.device_mesh.shape[index]

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        layout = self._layout_map[variable.path]
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return self._layout_map[path]


@keras_export("keras.distribution.FullyShardedDataParallel")
class FullyShardedDataParallel(DataParallel):
    """tkeras extension: data parallel with every variable sharded over the devices (FSDP/ZeRO-3).

    Each trainable variable of at least `min_num_elements` elements keeps only its slice of
    dimension 0 (the first dimension at least as long as the number of devices) on each
    process; torch's FSDP2 (`fully_shard`, one group per layer) all-gathers a layer's slices
    for its forward pass and reduce-scatters its gradients, so variables, gradients and
    optimizer state are all sharded. Same as `ModelParallel` with a `LayoutMap` putting
    `"batch"` on those dimensions. `reshard_after_forward` (FSDP2's option): free a layer's
    gathered weights after its forward pass and gather them again in the backward pass (less
    memory, one more all-gather per layer). Under a mixed dtype policy (`mixed_bfloat16`),
    layers are gathered in the compute dtype and their gradients reduced in float32.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True,
                 min_num_elements=1, reshard_after_forward=True):
        super().__init__(device_mesh=device_mesh, devices=devices,
                         auto_shard_dataset=auto_shard_dataset)
        self.min_num_elements = min_num_elements
        self.reshard_after_forward = bool(reshard_after_forward)

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        axes = [None] * len(variable.shape)
        n = self.device_mesh.devices.size
        if math.prod(variable.shape) >= self.min_num_elements:
            for dim, size in enumerate(variable.shape):
                if size >= n:
                    axes[dim] = self.batch_dim_name
                    break
        return TensorLayout(axes, self.device_mesh)


@keras_export("keras.distribution.LightningStrategy")
class LightningStrategy(DataParallel):
    """tkeras escape hatch: run data parallel on a Lightning strategy you name.

    `strategy` is any `lightning.fabric` strategy name or object (`"ddp"`,
    `DDPStrategy(process_group_backend="gloo", timeout=...)`, ...); `accelerator`, `devices`
    (processes per node) and `num_nodes` are passed to `Fabric`. Lightning launches the
    processes and sets up the cluster environment and process group; tkeras keeps the variables
    replicated and averages gradients, as `DataParallel`.
    """

    def __init__(self, strategy="ddp", accelerator="auto", devices="auto", num_nodes=1,
                 auto_shard_dataset=True):
        from tkeras.parallel import runtime

        self.strategy = strategy
        self.accelerator = accelerator
        self.fabric_devices = devices
        self.num_nodes = num_nodes
        runtime.ensure_launched(strategy=strategy, accelerator=accelerator, devices=devices,
                                num_nodes=num_nodes)
        super().__init__(devices=runtime.list_devices(), auto_shard_dataset=auto_shard_dataset)


_AMBIGUOUS_PATH = (
    "Path '{key}' matches multiple layout specification keys: {matching}. Please make sure "
    "each tensor/variable path only matches at most one layout specification key in the "
    "LayoutMap.")


@keras_export("keras.distribution.LayoutMap")
class LayoutMap(collections.abc.MutableMapping):
    """Regex (over variable paths such as `dense/kernel`) -> `TensorLayout`."""

    def __init__(self, device_mesh):
        self._layout_map = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        return path_map.match_path(key, self._layout_map, _AMBIGUOUS_PATH)

    def __setitem__(self, key, layout):
        path_map.check_new_key(key, self._layout_map, "LayoutMap")
        if isinstance(layout, tuple):
            layout = TensorLayout(axes=layout, device_mesh=None)
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"{layout} should be a TensorLayout type, got {type(layout)}")
        if layout.device_mesh is None and self._device_mesh is not None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


LayoutMap.get.__doc__ = LayoutMap.__getitem__.__doc__


@keras_export("keras.distribution.distribution")
def distribution():
    """The global distribution (None when unset)."""
    return _STATE["distribution"]


@keras_export("keras.distribution.set_distribution")
def set_distribution(value):
    """Set the global distribution; starts the processes and process group it needs."""
    if value is not None and not isinstance(value, Distribution):
        raise ValueError(f"Expected a `Distribution` instance or None. Received: {value!r}")
    if value is not None:
        from tkeras.parallel import runtime, strategy

        fabric = runtime.ensure_launched(world_size=int(value.device_mesh.devices.size),
                                         device_type=value.device_mesh.device_type)
        if fabric is not None or value.device_mesh.device_type == "tpu":
            strategy.install()
    _STATE["distribution"] = value

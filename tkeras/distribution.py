"""`tkeras.distribution`: Keras 3's distribution API, on torch distributed and Lightning Fabric.

```python
import tkeras as keras

keras.distribution.set_distribution(keras.distribution.DataParallel())  # every device
model = ...
model.fit(x, y, batch_size=64)  # 64 = global batch
```

Run the same script on one device, under `torchrun --nproc_per_node=N`, on several nodes
(torchrun or SLURM), or as `python script.py` with `DataParallel(devices=N)`: tkeras then starts
the other N-1 processes itself. See docs/distributed.md. Keras's torch backend has no
distribution support; tkeras maps `DataParallel` to torch DDP's gradient reducer,
`ModelParallel` + `LayoutMap` to DTensor tensor parallelism (and FSDP-style sharding for layout
axes naming the batch axis), and TPUs to torch-xla.
"""

from tkeras.core.registry import keras_export
from tkeras.parallel.runtime import get_device_count
from tkeras.parallel.runtime import initialize
from tkeras.parallel.runtime import list_devices
from tkeras.parallel.sharding import full_weights
from tkeras.parallel.sharding import gather_full_state
from tkeras.parallel.sharding import shard_state_into
from tkeras.parallel.spec import DataParallel
from tkeras.parallel.spec import DeviceMesh
from tkeras.parallel.spec import Distribution
from tkeras.parallel.spec import FullyShardedDataParallel
from tkeras.parallel.spec import LayoutMap
from tkeras.parallel.spec import LightningStrategy
from tkeras.parallel.spec import ModelParallel
from tkeras.parallel.spec import TensorLayout
from tkeras.parallel.spec import distribution
from tkeras.parallel.spec import set_distribution

for _fn, _name in ((list_devices, "list_devices"), (get_device_count, "get_device_count"),
                   (initialize, "initialize")):
    keras_export(f"keras.distribution.{_name}")(_fn)


@keras_export("keras.distribution.distribute_tensor")
def distribute_tensor(tensor, layout):
    """`tensor` laid out as `layout` (a `TensorLayout`, or axis names with the current mesh).

    A DTensor is redistributed on its own mesh (axes of `layout` not in that mesh are
    ignored: inside a model, DTensors live on the model axes); a plain tensor becomes a DTensor
    on the layout's whole mesh. Symbolic tensors and single-process runs return `tensor`.
    """
    from tkeras.model.keras_tensor import KerasTensor
    from tkeras.parallel import runtime
    from tkeras.parallel.sharding import placements_for

    if isinstance(tensor, KerasTensor) or runtime.fabric() is None:
        return tensor
    if not isinstance(layout, TensorLayout):
        layout = TensorLayout(layout, distribution().device_mesh if distribution() else None)
    keras_mesh = layout.device_mesh or distribution().device_mesh
    from torch.distributed.tensor import DTensor
    from torch.distributed.tensor import distribute_tensor as torch_distribute

    if isinstance(tensor, DTensor):
        names = tensor.device_mesh.mesh_dim_names
        exclude = tuple(n for n in keras_mesh.axis_names if n not in names)
        return tensor.redistribute(tensor.device_mesh,
                                   placements_for(layout.axes, keras_mesh, exclude=exclude))
    return torch_distribute(tensor, runtime.torch_mesh(keras_mesh),
                            placements_for(layout.axes, keras_mesh))


__all__ = ["DataParallel", "DeviceMesh", "Distribution", "FullyShardedDataParallel", "LayoutMap",
           "LightningStrategy", "ModelParallel", "TensorLayout", "distribute_tensor",
           "distribution", "full_weights", "gather_full_state", "get_device_count",
           "initialize", "list_devices", "set_distribution", "shard_state_into"]

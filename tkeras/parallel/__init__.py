"""The machinery behind `tkeras.distribution` (Keras's distribution API on torch distributed).

`spec`: Keras's spec objects. `runtime`: processes, process group and meshes (Lightning Fabric).
`sharding`: variables as local shards with DTensor views, gradient averaging, whole-value
gathers for saving. `fsdp`: batch-axis sharding on torch's FSDP2 `fully_shard`. `data`: each
process's share of the data. `callbacks`: rank-0 logging and saving. `strategy`: the fit
loop's strategies (how `fit`/`evaluate`/`predict`/`save` run under a distribution). `xla`: TPUs
through torch-xla. `launch`: starting processes from Python (tests, notebooks).
"""

from tkeras.parallel.runtime import is_chief
from tkeras.parallel.sharding import distribute_model
from tkeras.parallel.sharding import full_weights
from tkeras.parallel.sharding import gather_full_state
from tkeras.parallel.sharding import shard_state_into

__all__ = ["distribute_model", "full_weights", "gather_full_state", "is_chief",
           "shard_state_into"]

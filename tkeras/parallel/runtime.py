"""Processes, process group and device meshes for `tkeras.distribution`, on Lightning Fabric.

One process per device. Where the processes come from:
- torchrun (`TORCHELASTIC_RUN_ID`, `RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE` in the environment);
- SLURM (`srun`; Lightning's `SLURMEnvironment`);
- a plain `python script.py` with a distribution over N devices: Lightning's launcher re-runs
  the same command once per extra local process (`LOCAL_RANK=1..N-1`); the first process is
  rank 0. For several nodes started by hand, set `MASTER_ADDR`, `MASTER_PORT`, `NODE_RANK` and
  `NUM_NODES` on every node;
- Keras's `initialize(job_addresses, num_processes, process_id)` (or its
  `KERAS_DISTRIBUTION_*` variables): one process per host, as Keras does on JAX.

Fabric (`DDPStrategy` unless a `LightningStrategy` names another) builds the cluster environment,
the process group (NCCL on GPUs, gloo on CPUs) and the device of each process (the fit loop's
`tkeras.parallel.strategy.Distributed` uses them).
"""

import atexit
import datetime
import os

import numpy as np
import torch

_STATE = {"fabric": None, "meshes": {}}
_ACCELERATORS = {"gpu": "cuda", "cpu": "cpu"}


# ----------------------------------------------------------------------------- devices
def _xla_available():
    try:
        import torch_xla  # noqa: F401
    except ImportError:
        return False
    return True


def default_device_type():
    """`"gpu"` when CUDA is there, `"tpu"` for a torch-xla TPU runtime, else `"cpu"`."""
    if torch.cuda.is_available():
        return "gpu"
    if os.environ.get("PJRT_DEVICE", "").upper() == "TPU" and _xla_available():
        return "tpu"
    return "cpu"


def _initialized():
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _external_world_size():
    """The world size a launcher announced for this process (None in a plain run)."""
    if "WORLD_SIZE" in os.environ and ("RANK" in os.environ or "LOCAL_RANK" in os.environ):
        return int(os.environ["WORLD_SIZE"])
    if "SLURM_NTASKS" in os.environ and _slurm_detected():
        return int(os.environ["SLURM_NTASKS"])
    return None


def list_devices(device_type=None):
    """Global devices, `"<type>:<i>"`: one per process once processes are started, else local."""
    device_type = (device_type or default_device_type()).lower()
    if _initialized():
        return [f"{device_type}:{i}" for i in range(torch.distributed.get_world_size())]
    world = _external_world_size()
    if world is not None:
        return [f"{device_type}:{i}" for i in range(world)]
    if device_type == "gpu":
        count = torch.cuda.device_count()
    elif device_type == "tpu":
        from tkeras.parallel import xla

        count = xla.device_count()
    else:
        count = 1
    return [f"{device_type}:{i}" for i in range(count)]


def get_device_count(device_type=None):
    return len(list_devices(device_type))


def num_processes():
    if _initialized():
        return torch.distributed.get_world_size()
    return _external_world_size() or 1


def process_id():
    if _initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", 0))


def is_chief():
    """True on the process that writes logs, progress and files (global rank 0)."""
    return process_id() == 0


# ----------------------------------------------------------------------------- launch
def _slurm_detected():
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def _cluster_shape(world_size):
    """`(processes per node, nodes)` for Fabric, from the launcher's environment."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        world = int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        return local, world // local
    if "SLURM_NTASKS" in os.environ and _slurm_detected():
        nodes = int(os.environ.get("SLURM_NNODES", 1))
        return int(os.environ["SLURM_NTASKS"]) // nodes, nodes
    nodes = int(os.environ.get("NUM_NODES", 1))
    if world_size % nodes:
        raise ValueError(f"{world_size} devices cannot be split over NUM_NODES={nodes} nodes.")
    return world_size // nodes, nodes


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Start this process's part of a multi-process run (Keras's arguments and variables).

    Without arguments: joins the run announced by torchrun / SLURM / Lightning variables, if
    any. With Keras's arguments: `job_addresses` ("host:port,..."; the first is the
    coordinator), `num_processes` hosts with one process each, this host being `process_id`.
    """
    env = os.environ
    if job_addresses is None and "KERAS_DISTRIBUTION_JOB_ADDRESSES" in env:
        job_addresses = env["KERAS_DISTRIBUTION_JOB_ADDRESSES"]
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in env:
        num_processes = int(env["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in env:
        process_id = int(env["KERAS_DISTRIBUTION_PROCESS_ID"])
    if job_addresses:
        coordinator = job_addresses.split(",")[0].strip()
        host, port = coordinator.rsplit(":", 1) if ":" in coordinator else (coordinator, "29500")
        env["MASTER_ADDR"], env["MASTER_PORT"] = host, port
    if num_processes is not None:
        if process_id is None:
            raise ValueError("`process_id` is required with `num_processes`.")
        env.update(WORLD_SIZE=str(num_processes), NUM_NODES=str(num_processes),
                   NODE_RANK=str(process_id), RANK=str(process_id), LOCAL_RANK="0")
    world = num_processes or _external_world_size()
    if world:
        ensure_launched(world_size=world)


def ensure_launched(world_size=None, device_type=None, strategy=None, accelerator=None,
                    devices=None, num_nodes=None):
    """Start (or join) the processes and the process group; returns the Fabric or None (1 process).

    Idempotent: a second call checks that it asks for the same world size.
    """
    fabric = _STATE["fabric"]
    if fabric is not None:
        if world_size is not None and world_size != fabric.world_size:
            raise ValueError(f"This run has {fabric.world_size} processes; a distribution over "
                             f"{world_size} devices cannot be used in it.")
        return fabric
    device_type = device_type or default_device_type()
    if device_type == "tpu":
        return None  # torch-xla runs SPMD in one process: see tkeras.parallel.xla
    if strategy is None and (world_size or 1) == 1 and _external_world_size() in (None, 1):
        return None
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    if strategy is None:
        devices, num_nodes = _cluster_shape(world_size)
        strategy = DDPStrategy()
        accelerator = accelerator or _ACCELERATORS[device_type]
    fabric = Fabric(accelerator=accelerator or "auto", devices=devices or "auto",
                    num_nodes=num_nodes or 1, strategy=strategy)
    fabric.launch()
    _STATE["fabric"] = fabric
    atexit.register(_shutdown_process_group)
    return fabric


def _shutdown_process_group():
    """At interpreter exit: wait for the other processes, then destroy the process group.

    Without it, a process can exit while another still talks to its store or gloo pairs, and the
    process group's threads are torn down by static destructors (seen as `terminate called
    without an active exception`, exit status -6). The wait is bounded (a rank that died early
    must not make the others hang) and only on gloo, whose `monitored_barrier` takes a timeout.
    """
    dist = torch.distributed
    if not dist.is_available() or not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
    except Exception:  # noqa: BLE001 - another rank is gone: nothing left to wait for
        pass
    try:
        dist.destroy_process_group()
    except Exception:  # noqa: BLE001
        pass


def fabric():
    """The Fabric of this run (None in a single-process run)."""
    return _STATE["fabric"]


def device():
    """This process's device."""
    f = _STATE["fabric"]
    if f is not None:
        return f.device
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


# ----------------------------------------------------------------------------- meshes
def torch_mesh(keras_mesh):
    """The `torch.distributed.DeviceMesh` of a Keras `DeviceMesh` (cached; all ranks must call)."""
    ranks = keras_mesh.ranks
    key = (tuple(keras_mesh.shape), tuple(keras_mesh.axis_names), tuple(ranks.flat))
    mesh = _STATE["meshes"].get(key)
    if mesh is None:
        from torch.distributed.device_mesh import DeviceMesh

        world = num_processes()
        if sorted(ranks.flat) != list(range(world)):
            raise ValueError(f"The mesh's devices {list(keras_mesh.devices.flat)} must be the "
                             f"{world} devices of this run, each once.")
        device_type = _ACCELERATORS.get(keras_mesh.device_type, "cpu")
        mesh = DeviceMesh(device_type, torch.as_tensor(np.asarray(ranks)),
                          mesh_dim_names=tuple(keras_mesh.axis_names))
        _STATE["meshes"][key] = mesh
    return mesh

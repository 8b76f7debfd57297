"""`fork_run`: run a function in N forked processes on this machine (tests, notebooks).

Each child gets the variables a launcher would set (`MASTER_ADDR`, `MASTER_PORT`, `RANK`,
`LOCAL_RANK`, `NODE_RANK`, `WORLD_SIZE`), so a `set_distribution(...)` inside the function joins
the run instead of launching one. Forking skips re-importing torch/lightning in every process
(sub-second start instead of ~10 s). Children run with one intra-op thread. Not for CUDA (a forked child cannot use CUDA initialized in
the parent): use torchrun or the plain-python launch there.
"""

import multiprocessing
import os
import queue as queue_module
import socket
import time
import traceback

import torch


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(fn, args, rank, world, port, queue):
    # One intra-op thread: a forked child must not use an OpenMP pool the parent has started
    # (it can deadlock); OMP_NUM_THREADS also stops Lightning from raising the thread count.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), NODE_RANK="0", WORLD_SIZE=str(world),
                      OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    try:
        queue.put((rank, True, fn(*args)))
    except BaseException:  # reported to the parent, which raises
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def fork_run(fn, nprocs=2, args=(), timeout=120):
    """`[fn(*args) on rank 0, ..., on rank nprocs-1]`; results must be picklable plain data."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_child, args=(fn, args, r, nprocs, port, queue), daemon=True)
             for r in range(nprocs)]
    for p in procs:
        p.start()
    results, errors = {}, []
    deadline = time.monotonic() + timeout
    try:
        while len(results) + len(errors) < nprocs:
            try:
                rank, ok, value = queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue_module.Empty:
                break
            if ok:
                results[rank] = value
            else:
                errors.append((rank, value))
                break
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()) if not errors else 1)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    if errors:
        rank, tb = sorted(errors)[0]
        raise RuntimeError(f"rank {rank} failed:\n{tb}")
    if len(results) != nprocs:
        raise TimeoutError(f"only ranks {sorted(results)} of {nprocs} finished in {timeout} s")
    return [results[r] for r in range(nprocs)]

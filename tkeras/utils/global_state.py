"""`clear_session`: forget tkeras's global state, as Keras does."""

import gc

import torch

from tkeras.core import naming


def clear_session(free_memory=True):
    """Reset tkeras's global state.

    Layer-name counters restart (the next `Dense` is named `dense` again) and torch.compile's
    (dynamo) caches are reset, as in Keras's torch backend. With `free_memory=True` the Python
    garbage collector runs and, where CUDA is initialized, the CUDA caching allocator releases
    its unused blocks (`torch.cuda.empty_cache()`).
    """
    naming.reset_names()
    torch._dynamo.reset()
    if free_memory:
        gc.collect()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()

"""`init_args`: how a public layer with Keras's explicit signature hands its arguments to the
base of its family (thin subclasses, as in timm/torch.nn)."""


def init_args(local_vars):
    """The arguments of an `__init__` (its `locals()`, taken first thing) as keywords for the
    base: every named argument, then the `**kwargs` it received."""
    args = {k: v for k, v in local_vars.items() if k not in ("self", "__class__", "kwargs")}
    return {**args, **local_vars.get("kwargs", {})}

"""`.safetensors` weights: keys are Keras variable paths (`dense/kernel`, `lstm/lstm_cell/bias`).

A key is the variable's `path`; when two variables of the model share a path (same layer names
in nested models), those variables use their `.weights.h5` location instead
(`layers/functional/layers/dense/vars/0`), so keys are always unique and the same model always
maps to the same keys. Optimizer state is not stored (weights only). Loading is lazy: shapes
are checked from the header, then each tensor is read with `safe_open` (memory-mapped).
"""

import os
import warnings

import torch

from tkeras.compat import atomic
from tkeras.compat import safety
from tkeras.compat import weights_h5


def variable_keys(model):
    """`[(key, variable), ...]` for every model variable (optimizer excluded)."""
    entries = []
    for path, obj in weights_h5.walk(model):
        if weights_h5._is_optimizer(obj):
            continue
        for i, variable in enumerate(weights_h5.own_variables(obj)):
            entries.append((str(variable.path), f"{weights_h5.vars_path(path)}/{i}", variable))
    counts = {}
    for key, _, _ in entries:
        counts[key] = counts.get(key, 0) + 1
    return [(key if counts[key] == 1 else location, variable)
            for key, location, variable in entries]


def save_safetensors(model, filepath):
    from safetensors.torch import save_file

    tensors = {}
    for key, variable in variable_keys(model):
        tensors[key] = variable.detach().cpu().contiguous().clone()
    metadata = {"format": "pt", "producer": "tkeras", "keras_model": model.name}
    with atomic.atomic_path(filepath) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def _open(filepath):
    from safetensors import safe_open

    try:
        return safe_open(os.fspath(filepath), framework="pt")
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise safety.FileFormatError(f"{filepath} is not a valid .safetensors file: {e}") from e


def read_header(filepath):
    """`({key: (dtype, shape)}, metadata)` from the header only."""
    with open(filepath, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise safety.FileFormatError(f"{filepath} is truncated (no safetensors header).")
        size = int.from_bytes(head, "little")
        if size > os.fstat(f.fileno()).st_size - 8:
            raise safety.FileFormatError(f"{filepath}: the header claims {size} bytes, more "
                                         "than the file holds (truncated or not safetensors).")
        if size > safety.MAX_CONFIG_BYTES:
            raise safety.UnsafeFileError(f"{filepath}: header of {size} bytes (limit "
                                         f"{safety.MAX_CONFIG_BYTES}).")
        header = safety.parse_json(f.read(size), f"{filepath} header")
    if not isinstance(header, dict):
        raise safety.FileFormatError(f"{filepath}: the header is not a JSON object.")
    metadata = header.pop("__metadata__", None) or {}
    entries = {}
    for key, info in header.items():
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list):
            raise safety.FileFormatError(f"{filepath}: bad header entry for '{key}'.")
        entries[key] = (info.get("dtype"), tuple(info["shape"]))
    return entries, metadata


def load_safetensors(model, filepath, skip_mismatch=False):
    source = os.fspath(filepath)
    header, _ = read_header(source)
    expected = variable_keys(model)
    problems, plan = [], []
    for key, variable in expected:
        if key not in header:
            problems.append(f"- missing: '{key}' (shape {tuple(variable.shape)})")
        elif header[key][1] != tuple(variable.shape):
            problems.append(f"- '{key}': expects shape {tuple(variable.shape)}, found "
                            f"{header[key][1]}")
        else:
            plan.append((key, variable))
    known = {key for key, _ in expected}
    unexpected = sorted(k for k in header if k not in known)
    if problems or unexpected:
        report = f"Weights in {source} do not fit the model:\n" + "\n".join(problems)
        if unexpected:
            report += f"\nUnexpected entries: {unexpected[:50]}"
        if problems and not skip_mismatch:
            raise safety.WeightsMismatchError(report)
        warnings.warn(report, stacklevel=3)
    with _open(source) as f:
        with torch.no_grad():
            for key, variable in plan:
                try:
                    tensor = f.get_tensor(key)
                except Exception as e:
                    raise safety.FileFormatError(f"{source}: cannot read '{key}': {e}") from e
                weights_h5.assign(variable, tensor)


def describe(filepath):
    header, metadata = read_header(os.fspath(filepath))
    return {"metadata": metadata, "tensors": {k: {"dtype": d, "shape": list(s)}
                                              for k, (d, s) in header.items()}}

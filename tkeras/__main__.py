"""Command line: `python -m tkeras inspect FILE` and `python -m tkeras convert IN OUT`.

`inspect` reads only metadata (configs, HDF5 structure, safetensors headers): it never builds a
model or reads weight data, and it lists everything a loader would refuse (exit status 2 then).
`convert` loads with the safe loaders and writes by the output suffix: `.keras`, `.h5`/`.hdf5`
(full model; `--weights-only` for a weights-only legacy file), `.weights.h5`, `.safetensors`,
or a sharded `.weights.json` index (`--max-shard-size GB`); `inspect` reads such an index too.
Weights-only inputs need the architecture: `--model ARCH` (a `.keras`, `.h5` or `.json` file).
"""

import argparse
import os
import sys
import zipfile

from tkeras.compat import keras_zip
from tkeras.compat import safety
from tkeras.compat import safetensors_io
from tkeras.compat import sharded_h5


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class Report:
    def __init__(self, out):
        self.out = out
        self.refusals = []

    def line(self, text=""):
        print(text, file=self.out)

    def guard(self, fn, *args):
        """Run a check; a refusal or format error is recorded instead of raised."""
        try:
            return fn(*args)
        except (safety.FileFormatError, ValueError, KeyError, OSError) as e:
            self.refusals.append(f"{type(e).__name__}: {e}")
            return None


def _config_summary(report, config, indent=""):
    if not isinstance(config, dict):
        return
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    report.line(f"{indent}{config.get('class_name')} '{inner.get('name')}'")
    for layer in inner.get("layers", []) or []:
        if isinstance(layer, dict) and isinstance(layer.get("config"), dict) and "layers" in \
                layer["config"]:
            _config_summary(report, layer, indent + "  ")
        elif isinstance(layer, dict):
            name = layer.get("name") or (layer.get("config") or {}).get("name")
            report.line(f"{indent}  - {name}: {layer.get('class_name')}")


def _h5_weights(report, h5, prefix=""):
    total = count = 0
    for path, ds in safety.walk_h5(h5):
        nbytes = int(ds.size) * ds.dtype.itemsize
        total += nbytes
        count += 1
        group = path.rsplit("/", 1)[0] if "/" in path else ""
        owner = safety.read_attr(safety.h5_get(h5, group), "name", group) if group.endswith(
            "vars") else None
        owner = f"  ({owner})" if owner else ""
        report.line(f"  {prefix}{path}  {tuple(ds.shape)}  {ds.dtype}  {_size(nbytes)}{owner}")
    report.line(f"  {count} arrays, {_size(total)}")


def _inspect_keras(report, path):
    report.line(f"{path}: Keras 3 .keras archive")
    with open(path, "rb") as fileobj:
        zf = zipfile.ZipFile(fileobj)
        with zf:
            fileobj.seek(0, 2)
            report.guard(keras_zip.check_archive, zf, path, fileobj.tell())
            report.line("members:")
            for info in zf.infolist():
                report.line(f"  {info.filename}  {_size(info.file_size)}  "
                            f"{'stored' if info.compress_type == 0 else 'compressed'}")
            names = set(zf.namelist())
            if keras_zip.METADATA in names:
                meta = report.guard(keras_zip.read_member, zf, keras_zip.METADATA, 1 << 20, path)
                if meta is not None:
                    report.line(f"metadata: {meta.decode('utf-8', 'replace')}")
            if keras_zip.CONFIG in names:
                raw = report.guard(keras_zip.read_member, zf, keras_zip.CONFIG,
                                   safety.MAX_CONFIG_BYTES, path)
                config = report.guard(safety.parse_json, raw, f"{path}:{keras_zip.CONFIG}") \
                    if raw is not None else None
                _inspect_config(report, config, path)
            if keras_zip.WEIGHTS in names:
                member = report.guard(keras_zip.open_weights_member, zf, fileobj, path)
                if member is not None:
                    h5 = report.guard(keras_zip.open_h5, member, path)
                    if h5 is not None:
                        with h5:
                            report.line("weights (model.weights.h5):")
                            report.guard(_h5_weights, report, h5)


def _inspect_config(report, config, where):
    if not isinstance(config, dict):
        return
    report.line("architecture:")
    _config_summary(report, config, "  ")
    compile_config = config.get("compile_config")
    if compile_config:
        optimizer = compile_config.get("optimizer")
        name = optimizer.get("class_name") if isinstance(optimizer, dict) else optimizer
        report.line(f"compiled: optimizer={name}, loss={compile_config.get('loss')}, "
                    f"metrics={compile_config.get('metrics')}")
    report.guard(safety.check_config, config, None, True, where)


def _inspect_h5(report, path):
    h5 = keras_zip.open_h5(path, path)
    with h5:
        attrs = {k: report.guard(safety.read_attr, h5, k, "/") for k in h5.attrs}
        if "model_config" in attrs:
            report.line(f"{path}: legacy HDF5 model (keras_version="
                        f"{attrs.get('keras_version')}, backend={attrs.get('backend')})")
            config = report.guard(safety.parse_json, attrs["model_config"], f"{path}@model_config")
            _inspect_config(report, config, f"{path}@model_config")
            if attrs.get("training_config"):
                report.line("training_config: present")
        elif any(k.startswith("layer_names") for k in attrs):
            report.line(f"{path}: legacy HDF5 weights (keras_version={attrs.get('keras_version')})")
        else:
            report.line(f"{path}: Keras 3 weights file (.weights.h5 layout)")
        report.line("weights:")
        report.guard(_h5_weights, report, h5)


def _inspect_safetensors(report, path):
    info = safetensors_io.describe(path)
    report.line(f"{path}: safetensors (metadata {info['metadata']})")
    total = 0
    for key, entry in info["tensors"].items():
        report.line(f"  {key}  {tuple(entry['shape'])}  {entry['dtype']}")
        n = 1
        for d in entry["shape"]:
            n *= d
        total += n
    report.line(f"  {len(info['tensors'])} tensors, {total} values")


def _inspect_sharded(report, path):
    names, weight_map, _ = sharded_h5.read_index(path)
    report.line(f"{path}: Keras 3 sharded weights index ({len(names)} shards, "
                f"{len(weight_map)} groups)")
    directory = os.path.dirname(os.path.abspath(path))
    for name in names:
        report.line(f"shard {name}:")
        shard = report.guard(sharded_h5.open_shard, directory, name, path)
        if shard is None:
            continue
        with shard:
            h5 = report.guard(keras_zip.open_h5, shard, f"{path}:{name}")
            if h5 is not None:
                with h5:
                    report.guard(_h5_weights, report, h5)


def inspect(path, out=None):
    """Print what `path` holds; returns the list of refusals."""
    report = Report(out or sys.stdout)
    if os.path.isdir(path):
        config_path = os.path.join(path, keras_zip.CONFIG)
        with open(config_path, "rb") as f:
            config = report.guard(safety.parse_json, f.read(safety.MAX_CONFIG_BYTES + 1),
                                  config_path)
        report.line(f"{path}: Keras 3 model directory")
        _inspect_config(report, config, config_path)
        weights = os.path.join(path, keras_zip.WEIGHTS)
        h5 = report.guard(keras_zip.open_h5, weights, weights)
        if h5 is not None:
            with h5:
                report.line("weights:")
                report.guard(_h5_weights, report, h5)
    elif path.endswith(".safetensors"):
        report.guard(_inspect_safetensors, report, path)
    elif path.endswith(".weights.json"):
        report.guard(_inspect_sharded, report, path)
    elif zipfile.is_zipfile(path):
        report.guard(_inspect_keras, report, path)
    else:
        report.guard(_inspect_h5, report, path)
    if report.refusals:
        report.line("refused / invalid:")
        for refusal in report.refusals:
            report.line(f"  {refusal}")
    else:
        report.line("safety: nothing to refuse")
    return report.refusals


def _load_architecture(path):
    from tkeras.model.serialization import model_from_json
    from tkeras.saving import load_model

    if path.endswith(".json"):
        with open(path, "rb") as f:
            raw = f.read(safety.MAX_CONFIG_BYTES + 1)
        config = safety.parse_json(raw, path)
        safety.check_config(config, None, True, where=path)
        return model_from_json(raw.decode("utf-8"))
    return load_model(path, compile=False)


def convert(src, dst, model_path=None, weights_only=False, max_shard_size=None):
    from tkeras.saving import load_model
    from tkeras.saving import load_weights
    from tkeras.saving import save_model
    from tkeras.saving import save_weights

    full_model_input = src.endswith(".keras") or os.path.isdir(src) or (
        src.endswith((".h5", ".hdf5")) and not src.endswith(".weights.h5")
        and _has_model_config(src))
    if full_model_input and model_path is None:
        model = load_model(src, compile=dst.endswith((".keras", ".h5", ".hdf5")))
    else:
        if model_path is None:
            raise SystemExit(f"{src} holds weights only: pass the architecture with "
                             "--model ARCH (.keras, .h5 or .json).")
        model = _load_architecture(model_path)
        load_weights(model, src)
    if dst.endswith(".weights.json"):
        if max_shard_size is None:
            raise SystemExit(f"{dst}: a sharded weights index needs --max-shard-size GB.")
        save_weights(model, dst, max_shard_size=max_shard_size)
    elif dst.endswith((".weights.h5", ".safetensors")) or (
            weights_only and dst.endswith((".h5", ".hdf5"))):
        save_weights(model, dst)
    else:
        save_model(model, dst)


def _has_model_config(path):
    with keras_zip.open_h5(path, path) as f:
        return "model_config" in f.attrs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tkeras",
                                     description="Inspect and convert Keras files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_inspect = sub.add_parser("inspect", help="architecture, weights, sizes, refusals")
    p_inspect.add_argument("file")
    p_convert = sub.add_parser("convert", help="convert between .keras, .weights.h5, .h5, "
                               ".safetensors, sharded .weights.json")
    p_convert.add_argument("input")
    p_convert.add_argument("output")
    p_convert.add_argument("--model", help="architecture for weights-only inputs")
    p_convert.add_argument("--weights-only", action="store_true",
                           help="write a weights-only legacy .h5")
    p_convert.add_argument("--max-shard-size", type=float, default=None,
                           help="shard size in GB for a .weights.json output")
    args = parser.parse_args(argv)
    if args.command == "inspect":
        return 2 if inspect(args.file) else 0
    try:
        convert(args.input, args.output, args.model, args.weights_only, args.max_shard_size)
    except (safety.FileFormatError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

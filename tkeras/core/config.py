"""Global configuration: `keras.json`, `KERAS_HOME`, floatx, epsilon, image data format.

Keras behaviour kept: the file lives at `$KERAS_HOME/keras.json`, else `~/.keras/keras.json`, else
`/tmp/.keras/keras.json` when the home directory is not writable; it is created on first import
with the defaults; malformed JSON is ignored; a bad `floatx`/`epsilon`/`image_data_format` value is
a ValueError. `backend` is read and ignored (tkeras always runs on torch).
"""

import json
import os

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_BACKEND = "torch"
_MAX_EPOCHS = None
_MAX_STEPS_PER_EPOCH = None
_INTERACTIVE_LOGGING = True
_TRACEBACK_FILTERING = True
_FLASH_ATTENTION = None

_VALID_FLOATX = ("float16", "float32", "float64", "bfloat16")
_VALID_FORMATS = ("channels_last", "channels_first")


def keras_home():
    """The Keras home directory (`$KERAS_HOME`, `~/.keras`, or `/tmp/.keras`)."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def floatx():
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    value = str(value)
    if value not in _VALID_FLOATX:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {_VALID_FLOATX}")
    _FLOATX = value


def epsilon():
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = value


def image_data_format():
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    data_format = str(data_format).lower()
    if data_format not in _VALID_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    _IMAGE_DATA_FORMAT = data_format


def standardize_data_format(data_format):
    if data_format is None:
        return image_data_format()
    data_format = str(data_format).lower()
    if data_format not in _VALID_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return data_format


def backend():
    """Always "torch": tkeras has one backend."""
    return _BACKEND


def set_backend(backend):
    if backend != "torch":
        raise ValueError(f"tkeras runs on PyTorch only; cannot set backend to {backend!r}.")


def max_epochs():
    return _MAX_EPOCHS


def set_max_epochs(max_epochs):
    global _MAX_EPOCHS
    _MAX_EPOCHS = max_epochs


def max_steps_per_epoch():
    return _MAX_STEPS_PER_EPOCH


def set_max_steps_per_epoch(max_steps_per_epoch):
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = max_steps_per_epoch


def is_interactive_logging_enabled():
    return _INTERACTIVE_LOGGING


def enable_interactive_logging():
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = True


def disable_interactive_logging():
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = False


def is_traceback_filtering_enabled():
    return _TRACEBACK_FILTERING


def enable_traceback_filtering():
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering():
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_flash_attention_enabled():
    return _FLASH_ATTENTION


def enable_flash_attention():
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = True


def disable_flash_attention():
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = False


def is_nnx_enabled():
    return False


def _load_keras_json():
    """Read (or create) keras.json once, at import, exactly as Keras does."""
    global _FLOATX, _EPSILON, _IMAGE_DATA_FORMAT
    home = keras_home()
    path = os.path.join(home, "keras.json")
    config = None
    if os.path.exists(path):
        try:
            with open(path) as f:
                config = json.load(f)
        except (ValueError, OSError):
            config = None  # Keras ignores a malformed file.
    if isinstance(config, dict):
        floatx_value = config.get("floatx", _FLOATX)
        if floatx_value not in ("float16", "float32", "float64"):
            raise ValueError(f"Invalid `floatx` in {path}: {floatx_value!r}")
        epsilon_value = config.get("epsilon", _EPSILON)
        if not isinstance(epsilon_value, float):
            raise ValueError(f"Invalid `epsilon` in {path}: {epsilon_value!r} (must be a float)")
        data_format = config.get("image_data_format", _IMAGE_DATA_FORMAT)
        if data_format not in _VALID_FORMATS:
            raise ValueError(f"Invalid `image_data_format` in {path}: {data_format!r}")
        _FLOATX, _EPSILON, _IMAGE_DATA_FORMAT = floatx_value, epsilon_value, data_format
    if not os.path.exists(home):
        try:
            os.makedirs(home)
        except OSError:
            return
    if not os.path.exists(path):
        defaults = {
            "floatx": _FLOATX,
            "epsilon": _EPSILON,
            "backend": "tensorflow",
            "image_data_format": _IMAGE_DATA_FORMAT,
        }
        try:
            tmp = path + f".tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(json.dumps(defaults, indent=4))
            os.replace(tmp, path)
        except OSError:
            pass


_load_keras_json()
if os.environ.get("KERAS_MAX_EPOCHS"):
    _MAX_EPOCHS = int(os.environ["KERAS_MAX_EPOCHS"])
if os.environ.get("KERAS_MAX_STEPS_PER_EPOCH"):
    _MAX_STEPS_PER_EPOCH = int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"])

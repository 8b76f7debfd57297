"""`TextVectorization`: strings to token indices or token counts, without TensorFlow.

Keras runs this layer on TensorFlow's string ops even on the torch backend; tkeras does the same
steps in Python and keeps the vocabulary in a `StringLookup` (`_lookup_layer`, `mask_token=""`)
exactly as Keras composes it, so the saved files have Keras's layout.

Keras behaviour kept:
- standardize: `"lower"` lowercases ASCII letters only (TensorFlow's `tf.strings.lower`, so
  "É" stays "É"); `"strip_punctuation"` deletes the 32 ASCII punctuation characters;
  `"lower_and_strip_punctuation"` does both; `None` nothing; a callable receives a NumPy array
  of `str` (as Keras off TensorFlow) and returns an array of the same shape.
- split: `"whitespace"` splits on runs of ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r;
  not on non-breaking or ideographic spaces), `"character"` into Unicode code points, `None`
  keeps whole strings. Inputs of rank > 1 must have a last axis of size 1, which is squeezed.
- ngrams: an int `n` gives widths `1..n`, a tuple the listed widths; n-grams are joined with a
  space, all n-grams of the first width first.
- output_mode `int` (0 = padding, 1 = OOV; rows padded with 0 to the longest row, or padded or
  truncated to `output_sequence_length`), `multi_hot` (alias `binary`), `count`, `one_hot` and
  `tf_idf` (alias `tf-idf`), with `pad_to_max_tokens`; `int`, `one_hot`, `multi_hot` and `count`
  outputs are int64 tensors and `tf_idf` outputs float32, as Keras returns them.
- `adapt()` from a list, an array (rank 1 is one document per string) or an iterable of
  batches (`steps` batches at most); `get_vocabulary`, `set_vocabulary`, `vocabulary_size`; the
  config; `save_own_variables`/`load_own_variables`/`save_assets`/`load_assets` delegated to the
  lookup layer.

Deliberate differences: `sparse=True` and `ragged=True` raise (as Keras off TensorFlow); a
callable `split` receives a 1-D NumPy array of `str` and returns one list (or 1-D array) of
tokens per string, where Keras hands it a TensorFlow tensor and expects a ragged tensor back.
Callables in a config are only resolved through the registry (registered functions or
`custom_objects`); anything else raises `ValueError`.
"""

import re
import string

import numpy as np
import torch

from tkeras.core import dtype_policies
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import map_shapes_to_tensors
from tkeras.layers.preprocessing.index_lookup import StringLookup
from tkeras.layers.preprocessing.index_lookup import _listify
from tkeras.model.keras_tensor import KerasTensor

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ASCII_WHITESPACE = re.compile("[ \t\n\v\f\r]+")


def _validate_string_arg(value, allowed, arg_name, allow_none=False, allow_callables=False):
    if (allow_none and value is None) or (allow_callables and callable(value)) or (
            isinstance(value, str) and value in allowed):
        return
    raise ValueError(f"Unknown value for `{arg_name}` argument of TextVectorization. Allowed "
                     f"values are: {allowed}. Received: {arg_name}={value}")


def _ngrams(tokens, widths):
    return [" ".join(tokens[i:i + width]) for width in widths
            for i in range(len(tokens) - width + 1)]


def _object_array(items, shape):
    """An object array of `shape` holding the Python objects `items` (lists stay elements)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(shape)


@keras_export("keras.layers.TextVectorization")
class TextVectorization(Layer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int", output_sequence_length=None,
                 pad_to_max_tokens=False, vocabulary=None, idf_weights=None, sparse=False,
                 ragged=False, encoding="utf-8", name=None, **kwargs):
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        if ragged:
            raise ValueError("`ragged=True` can only be used with the TensorFlow backend.")
        _validate_string_arg(standardize, _STANDARDIZE, "standardize", allow_none=True,
                             allow_callables=True)
        _validate_string_arg(split, _SPLIT, "split", allow_none=True, allow_callables=True)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        _validate_string_arg(output_mode, _OUTPUT_MODES, "output_mode")
        if not (ngrams is None or isinstance(ngrams, int) or (
                isinstance(ngrams, tuple) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError("`ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams}")
        if output_mode == "int" and not (output_sequence_length is None or isinstance(
                output_sequence_length, int)):
            raise ValueError("`output_sequence_length` must be either None or an integer when "
                             "`output_mode` is 'int'. Received: "
                             f"output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is not "
                             f"'int'. Received output_sequence_length={output_sequence_length}.")
        self._has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self._max_tokens = max_tokens
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._ragged = ragged
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            sparse=sparse, has_input_vocabulary=self._has_input_vocabulary, encoding=encoding,
            vocabulary_size=vocabulary_size)
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if self._build_shapes is None:  # as Keras's first call: the shape of a symbolic input
            shape = tuple(inputs.shape) if isinstance(inputs, KerasTensor) else None
            self._build_shapes = {"input_shape": shape}
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)  # strings cannot be tensors: bypass tensor conversion

    # ------------------------------------------------------------------------- vocabulary
    def adapt(self, data, batch_size=None, steps=None):
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, np.ndarray, str)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            data = self._as_strings(data)
            if data.ndim == 1:
                data = data[:, None]
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        self._lookup_layer.update_state(self._tokens_array(self._preprocess(data)))

    def finalize_state(self):
        self._lookup_layer.finalize_state()

    def reset_state(self):
        self._lookup_layer.reset_state()

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # ------------------------------------------------------------------------- text steps
    def _as_strings(self, inputs):
        """Any string input -> NumPy array of `str` (bytes decoded with `encoding`)."""
        array = np.asarray(_listify(inputs), dtype=object)
        return np.vectorize(
            lambda s: s.decode(self._encoding) if isinstance(s, bytes) else str(s),
            otypes=[object])(array) if array.size else array

    def _standardize_strings(self, strings):
        if callable(self._standardize):
            result = self._standardize(strings.astype(str))
            return np.asarray(_listify(result), dtype=object)
        if self._standardize is None:
            return strings
        lower = self._standardize in ("lower", "lower_and_strip_punctuation")
        strip = self._standardize in ("strip_punctuation", "lower_and_strip_punctuation")

        def standardize(s):
            if lower:
                s = s.translate(_ASCII_LOWER)
            return s.translate(_NO_PUNCTUATION) if strip else s

        return np.vectorize(standardize, otypes=[object])(strings) if strings.size else strings

    def _split_strings(self, strings):
        """Array of strings (batch shape) -> array of token lists (same shape)."""
        if callable(self._split):
            pieces = self._split(strings.reshape(-1).astype(str))
            rows = [list(_listify(p)) for p in pieces]
        elif self._split == "whitespace":
            rows = [[t for t in _ASCII_WHITESPACE.split(s) if t] for s in strings.reshape(-1)]
        else:
            rows = [list(s) for s in strings.reshape(-1)]
        return _object_array(rows, strings.shape)

    def _preprocess(self, inputs):
        """Standardize, split and n-gram: a dense array of tokens, or (after a split) an object
        array of token lists, one per string (`ragged`)."""
        strings = self._standardize_strings(self._as_strings(inputs))
        if self._split is None:
            if self._ngrams is None:
                return strings, False
            if strings.ndim == 0:
                strings = strings[None]
            rows = [_ngrams(list(row), self._ngrams)
                    for row in strings.reshape(-1, strings.shape[-1])]
            grams = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
            grams[...] = rows
            return grams.reshape(strings.shape[:-1] + grams.shape[-1:]), False
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError("When using `TextVectorization` to tokenize strings, the input "
                                 "rank must be 1 or the last shape dimension must be 1. "
                                 f"Received: inputs.shape={strings.shape} with "
                                 f"rank={strings.ndim}")
            strings = strings.squeeze(-1)
        rows = self._split_strings(strings)
        if self._ngrams is not None:
            rows = _object_array([_ngrams(r, self._ngrams) for r in rows.reshape(-1)],
                                 rows.shape)
        return rows, True

    def _tokens_array(self, processed, length=None):
        """Token lists padded with the mask token "" (to `length`, or the longest row) into a
        dense array of shape `batch_shape + (length,)`."""
        tokens, ragged = processed
        if not ragged:
            return tokens
        flat = tokens.reshape(-1).tolist()
        if length is None:
            length = max((len(row) for row in flat), default=0)
        padded = np.full((len(flat), length), "", dtype=object)
        for i, row in enumerate(flat):
            row = row[:length]
            padded[i, :len(row)] = row
        return padded.reshape(tokens.shape + (length,))

    # ------------------------------------------------------------------------- call
    def call(self, inputs):
        processed = self._preprocess(inputs)
        if self._output_mode != "int":
            tokens = self._tokens_array(processed)
            if tokens.ndim and tokens.shape[-1] == 0:  # only empty strings: one padding token
                tokens = np.full(tokens.shape[:-1] + (1,), "", dtype=object)
            return self._lookup_layer(tokens)
        outputs = self._lookup_layer(self._tokens_array(processed,
                                                        self._output_sequence_length))
        length = self._output_sequence_length
        if length is not None and outputs.shape[-1] != length:  # dense input (no split)
            outputs = outputs[..., :length]
            outputs = torch.nn.functional.pad(outputs, (0, length - outputs.shape[-1]))
        return outputs

    def compute_output_shape(self, input_shape):
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = tuple(input_shape) + (1,)
        else:
            input_shape = tuple(input_shape) + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    def compute_output_spec(self, inputs):
        # The dtype `call` returns (Keras declares floatx for every mode but `int`).
        dtype = "float32" if self._output_mode == "tf_idf" else "int64"
        return map_shapes_to_tensors(self.compute_output_shape(inputs.shape), dtype)

    # ------------------------------------------------------------------------- saving
    def save_own_variables(self, store):
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store):
        self._lookup_layer.load_own_variables(store)

    def save_assets(self, dir_path):
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)

    def get_config(self):
        lookup = self._lookup_layer
        return {**super().get_config(), "max_tokens": lookup.max_tokens,
                "standardize": self._standardize, "split": self._split,
                "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length,
                "pad_to_max_tokens": lookup.pad_to_max_tokens, "sparse": lookup.sparse,
                "ragged": self._ragged, "vocabulary": _listify(lookup.input_vocabulary),
                "idf_weights": _listify(lookup.input_idf_weights), "encoding": self._encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("standardize", "split"):
            if not isinstance(config.get(key), str):
                config[key] = deserialize_keras_object(config.get(key))
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        return cls(**config)

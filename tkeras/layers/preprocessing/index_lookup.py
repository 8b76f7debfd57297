"""`IntegerLookup` and `StringLookup` (and their base `IndexLookup`) in plain Python and torch.

Keras runs these on TensorFlow lookup tables even on the torch backend; tkeras keeps the
vocabulary as a Python list/dict (integer lookups are vectorised with `torch.searchsorted`).

Keras behaviour kept: index layout `[mask (int mode only)] + [oov] * num_oov_indices + tokens`;
`vocabulary` (list, tuple, array, tensor or a text file path, one token per line) with or
without the special tokens at its start; `adapt()` from arrays, tensors, lists or an iterable of
batches (tokens sorted by count, ties by larger token first, truncated to `max_tokens`; the mask
and OOV tokens are never learned); OOV inputs map to index `num_oov_indices == 1 ? first OOV`
or, for `num_oov_indices > 1` integer lookups with the default `oov_method="floormod"`,
`floormod(value, num_oov_indices)` past the mask (strings are hashed, see below);
`num_oov_indices == 0` raises on OOV inputs; `output_mode` `int`, `one_hot`, `multi_hot`
(alias `binary`), `count` (all four int64 tensors, as Keras returns them), `tf_idf` (alias
`tf-idf`, float32; `idf = log(1 + docs / (1 + doc_count))`, special tokens get the mean idf),
with `pad_to_max_tokens`; `invert=True` maps indices back to
tokens (unknown indices to `oov_token`, index 0 to `mask_token` when set); `get_vocabulary`,
`vocabulary_size`, `set_vocabulary`; `save_assets`/`load_assets` write/read `vocabulary.txt`
(all tokens, one per line, including the special tokens) unless the vocabulary was given to the
constructor; tf-idf weights go through `save_own_variables`/`load_own_variables` as
`store["idf_weights"]`.

OOV hashing with `num_oov_indices > 1` (`string_hashing`, bit-exact with TensorFlow): an OOV
string (its UTF-8 bytes), or an OOV integer with `oov_method="farmhash"` (its decimal text, as
`tf.strings.as_string`), goes to OOV index `hash % num_oov_indices` past the mask, where `hash`
is FarmHash `Fingerprint64` (`tf.strings.to_hash_bucket_fast`) or, with `salt`, SipHash-2-4
keyed by the two salt words (`to_hash_bucket_strong`).

Deliberate differences: `sparse=True` raises (as Keras off TensorFlow); the symbolic dtype of
`one_hot`/`multi_hot`/`count` outputs is int64, the dtype `call` returns (Keras declares floatx
there but returns int64); `StringLookup(invert=True)` returns a NumPy array of `str` (Keras on
torch returns a list of strings for 1-D input); bytes inputs of a `StringLookup` with an
`encoding` other than UTF-8 are hashed as the UTF-8 bytes of their decoded text.
"""

import collections
import os

import numpy as np
import torch

from tkeras.core.registry import in_safe_mode
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import map_shapes_to_tensors
from tkeras.layers.preprocessing.category_encoding import encode_categorical_inputs
from tkeras.layers.preprocessing.string_hashing import fingerprint64
from tkeras.layers.preprocessing.string_hashing import siphash24
from tkeras.model.keras_tensor import KerasTensor

_INT64_MAX = np.iinfo(np.int64).max
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _listify(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        x = x.tolist()
    return x


class IndexLookup(Layer):
    """Shared vocabulary logic of `IntegerLookup` and `StringLookup`."""

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", name=None,
                 salt=None, **kwargs):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError("If set, `max_tokens` must be greater than 1. Received: "
                             f"max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError("If pad_to_max_tokens is True, must set `max_tokens`. Received: "
                             f"max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError("`num_oov_indices` must be greater than or equal to 0. Received: "
                             f"num_oov_indices={num_oov_indices}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"The `oov_method` argument of {self.__class__.__name__} must be "
                             f"'floormod' or 'farmhash'. Received: oov_method={oov_method}")
        if salt is not None:
            if vocabulary_dtype == "int64" and oov_method != "farmhash":
                raise ValueError("`salt` can only be used when `oov_method='farmhash'`. "
                                 f"Received: oov_method={oov_method}")
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = list(salt)
            elif isinstance(salt, int):
                salt = [salt, salt]
            else:
                raise ValueError("The `salt` argument for `IndexLookup` can only be a tuple of "
                                 f"2 integers, or a single integer. Received: salt={salt}.")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"The `output_mode` argument of {self.__class__.__name__} must be "
                             f"one of {_OUTPUT_MODES}. Received: output_mode={output_mode}")
        if invert and output_mode != "int":
            raise ValueError("`output_mode` must be `'int'` when `invert` is true. Received: "
                             f"output_mode={output_mode}")
        if sparse and output_mode == "int":
            raise ValueError("`sparse` may only be true if `output_mode` is `'one_hot'`, "
                             "`'multi_hot'`, `'count'` or `'tf_idf'`. Received: "
                             f"sparse={sparse} and output_mode={output_mode}")
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                             f"Received: idf_weights={idf_weights} and "
                             f"output_mode={output_mode}")
        frozen_vocab_size = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword argument(s): {kwargs}")
        super().__init__(name=name)
        self.invert = invert
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt
        self._frozen_vocab_size = frozen_vocab_size
        self.input_vocabulary = vocabulary if not isinstance(vocabulary, str) else None
        self.input_idf_weights = idf_weights
        self._has_input_vocabulary = has_input_vocabulary
        self.built = True
        self._tokens = []  # learned tokens, at indices token_start...
        self._index = {}
        self._int_table = None
        self.idf_weights = None
        if output_mode == "tf_idf" and has_input_vocabulary and idf_weights is None:
            raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output mode, "
                             "the `idf_weights` argument must also be provided.")
        if idf_weights is not None:
            self.idf_weights = torch.as_tensor(np.asarray(idf_weights), dtype=torch.float32)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.reset_state()

    # ------------------------------------------------------------------------- vocabulary
    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def _default_value(self):
        if self.invert:
            return self.oov_token
        return self._oov_start_index() if self.num_oov_indices == 1 else -1

    def _convert_token(self, token):
        raise NotImplementedError

    def vocabulary_size(self):
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index():]
        return vocab

    def _set_tokens(self, tokens):
        self._tokens = [self._convert_token(t) for t in tokens]
        start = self._token_start_index()
        self._index = {t: start + i for i, t in enumerate(self._tokens)}
        self._int_table = None

    def _record_vocabulary_size(self):
        if self.output_mode != "int" and not self.pad_to_max_tokens:
            size = self.vocabulary_size()
            if self._frozen_vocab_size is not None and size != self._frozen_vocab_size:
                raise RuntimeError(
                    f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens="
                    "False`, the vocabulary size cannot be changed after the layer is called. "
                    f"Old vocab size is {self._frozen_vocab_size}, new vocab size is {size}")
        self._frozen_vocab_size = self.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError("`idf_weights` should only be set if output_mode is `'tf_idf'`. "
                             f"Received: output_mode={self.output_mode} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, str):
            self._set_vocabulary_file(vocabulary)
            return
        vocabulary = [self._convert_token(t) for t in np.asarray(_listify(vocabulary),
                                                                  dtype=object).reshape(-1)]
        if not vocabulary:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        token_start = self._token_start_index()
        special_tokens = ([self.mask_token] * self._oov_start_index()
                          + [self.oov_token] * self.num_oov_indices)
        found_special_tokens = vocabulary[:token_start] == special_tokens
        tokens = vocabulary[token_start:] if found_special_tokens else vocabulary
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError("The passed vocabulary has at least one repeated term. Please "
                             f"uniquify your dataset. The repeated terms are: {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(
                "Found reserved mask token at unexpected location in `vocabulary`. Note that "
                "passed `vocabulary` does not need to include the OOV and mask tokens. Either "
                "remove all mask and OOV tokens, or include them only at the start of the "
                f"vocabulary in precisely this order: {special_tokens}. Received: "
                f"mask_token={self.mask_token} at vocabulary index "
                f"{len(vocabulary) - 1 - vocabulary[::-1].index(self.mask_token)}")
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(
                "Found reserved OOV token at unexpected location in `vocabulary`. Note that "
                "passed `vocabulary` does not need to include the OOV and mask tokens. Either "
                "remove all mask and OOV tokens, or include them only at the start of the "
                f"vocabulary in precisely this order: {special_tokens}. Received: "
                f"oov_token={self.oov_token} at vocabulary index "
                f"{len(vocabulary) - 1 - vocabulary[::-1].index(self.oov_token)}")
        if self.max_tokens is not None and token_start + len(tokens) > self.max_tokens:
            raise ValueError("Attempted to set a vocabulary larger than the maximum vocab size. "
                             f"Received vocabulary size is {token_start + len(tokens)}; "
                             f"`max_tokens` is {self.max_tokens}.")
        self._set_tokens(tokens)
        self._record_vocabulary_size()
        if self.output_mode == "tf_idf":
            idf_weights = np.asarray(_listify(idf_weights), dtype=np.float64)
            if len(vocabulary) != len(idf_weights):
                raise ValueError("`idf_weights` must be the same length as vocabulary. "
                                 f"len(idf_weights) is {len(idf_weights)}; len(vocabulary) is "
                                 f"{len(vocabulary)}")
            if idf_weights.ndim != 1:
                raise ValueError("TF-IDF data must be a 1-index array. Received: "
                                 f"type(idf_weights)={type(idf_weights)}")
            front = 0 if found_special_tokens else token_start
            front_value = 0 if found_special_tokens else np.average(idf_weights)
            back = 0
            if self.pad_to_max_tokens and self.max_tokens is not None:
                back = self.max_tokens - front - len(idf_weights)
            weights = np.pad(idf_weights, (front, back), "constant",
                             constant_values=(front_value, 0))
            self.idf_weights = torch.as_tensor(weights, dtype=torch.float32)

    def _set_vocabulary_file(self, path):
        if in_safe_mode():
            raise ValueError(
                "Requested the loading of a vocabulary file outside of the model archive. This "
                "carries a potential risk of loading arbitrary and sensitive files and thus it "
                "is disallowed by default. If you trust the source of the artifact, you can "
                "override this error by passing `safe_mode=False` to the loading function. "
                f"Vocabulary file: '{path}'")
        if not os.path.exists(path):
            raise ValueError(f"Vocabulary file {path} does not exist.")
        if self.output_mode == "tf_idf":
            raise ValueError("output_mode `'tf_idf'` does not support loading a vocabulary "
                             "from file.")
        with open(path, encoding="utf-8") as f:
            # Each line is a token at index `token_start + line` (as TF's TextFileInitializer).
            self._set_tokens(f.read().splitlines())
        self._record_vocabulary_size()

    # ------------------------------------------------------------------------- adapt
    def adapt(self, data, steps=None):
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, np.ndarray,
                                                                 torch.Tensor, str)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            data = self._as_array(data)
            if data.ndim == 1:
                data = data[:, None]
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via `vocabulary` argument or `set_vocabulary()` method.")
        data = self._as_array(data)
        if data.ndim == 0:
            data = data[None]
        if data.ndim == 1:
            data = data[None]
        self._token_counts.update(data.reshape(-1).tolist())
        if self.output_mode == "tf_idf":
            for document in data.reshape(data.shape[0], -1):
                self._document_counts.update(set(document.tolist()))
            self._num_documents += data.shape[0]

    def finalize_state(self):
        if self._has_input_vocabulary or not self._token_counts:
            self._record_vocabulary_size()
            return
        counts = dict(self._token_counts)
        counts.pop(self.mask_token, None)
        counts.pop(self.oov_token, None)
        # Keras: np.lexsort((tokens, counts))[::-1], i.e. by count then token, both descending.
        tokens = sorted(counts, key=lambda t: (counts[t], self._sort_key(t)), reverse=True)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start_index()]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            doc_counts = np.array([self._document_counts[t] for t in self._tokens], np.int64)
            idf = np.log(1 + self._num_documents / (1 + doc_counts)).astype(np.float32)
            idf = np.pad(idf, (self._token_start_index(), 0),
                         constant_values=np.mean(idf) if len(idf) else 0.0)
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - idf.size))
            self.idf_weights = torch.as_tensor(idf, dtype=torch.float32)
        self.reset_state()
        self._record_vocabulary_size()

    def reset_state(self):
        if self._has_input_vocabulary:
            return
        self._token_counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._num_documents = 0

    def _sort_key(self, token):
        return token

    # ------------------------------------------------------------------------- lookup
    def _lookup_ids(self, inputs):
        """Token array -> int64 indices (mask, OOV and hashing rules applied)."""
        raise NotImplementedError

    def _check_oov(self, lookups, inputs):
        if self.num_oov_indices == 0 and bool((lookups == -1).any()):
            raise ValueError(
                "When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                f"{self._oov_values(lookups, inputs)}, consider setting `num_oov_indices=1`.")

    def _hash_bytes(self, values):
        """The bytes TensorFlow hashes for each of a flat NumPy array of inputs."""
        raise NotImplementedError

    def _hash_oov(self, lookups, values):
        """OOV lookups (-1) -> `hash(value) % num_oov_indices` past the mask, as TensorFlow's
        `to_hash_bucket_fast` (or `_strong` with `salt`); `values` is the NumPy input array."""
        oov = (lookups == -1).reshape(-1).cpu().numpy()
        if not oov.any():
            return lookups
        strings = self._hash_bytes(values.reshape(-1)[oov])
        if self.salt is not None:
            hashes = siphash24(strings, *self.salt)
        else:
            hashes = fingerprint64(strings)
        buckets = (hashes % np.uint64(self.num_oov_indices)).astype(np.int64)
        flat = lookups.reshape(-1).clone()
        flat[oov] = torch.from_numpy(buckets).to(flat.device) + self._oov_start_index()
        return flat.reshape(lookups.shape)

    def _encode(self, lookups):
        if self.output_mode == "int":
            return lookups
        if self.output_mode != "int" and not self.pad_to_max_tokens and (
                self._frozen_vocab_size is None):
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you "
                "must set the layer's vocabulary before calling it. Either pass a `vocabulary` "
                "argument to the layer, or call `adapt` with some sample data.")
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        if self.output_mode != "tf_idf":
            return encode_categorical_inputs(lookups, mode, depth, torch.int64)
        if self.idf_weights is None:
            raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be provided.")
        output = encode_categorical_inputs(lookups, mode, depth, torch.float32)
        return output * self.idf_weights.to(output.device)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    def compute_output_spec(self, inputs):
        dtype = "float32" if self.output_mode == "tf_idf" else "int64"
        if self.invert:
            dtype = self.vocabulary_dtype
        return map_shapes_to_tensors(self.compute_output_shape(inputs.shape), dtype)

    # ------------------------------------------------------------------------- saving
    def save_own_variables(self, store):
        if self.output_mode == "tf_idf":
            store["idf_weights"] = self.idf_weights.numpy()

    def load_own_variables(self, store):
        if self.output_mode == "tf_idf":
            self.idf_weights = torch.as_tensor(np.asarray(store["idf_weights"]),
                                               dtype=torch.float32)

    def save_assets(self, dir_path):
        if self.input_vocabulary is not None:
            return
        vocabulary = self.get_vocabulary(include_special_tokens=True)
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(str(w) for w in vocabulary))

    def load_assets(self, dir_path):
        if self.input_vocabulary is not None:
            return
        with open(os.path.join(dir_path, "vocabulary.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = [self._convert_token(line) for line in lines]
        if self.output_mode == "tf_idf":
            self.set_vocabulary(values, idf_weights=self.idf_weights.numpy())
        else:
            self.set_vocabulary(values)

    def get_build_config(self):
        return {}

    def build_from_config(self, config):
        self.built = True

    def get_config(self):
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary_dtype": self.vocabulary_dtype,
                "idf_weights": _listify(self.input_idf_weights),
                "vocabulary": _listify(self.input_vocabulary),
                "vocabulary_size": self._frozen_vocab_size, "oov_method": self.oov_method,
                "salt": self.salt}


@keras_export("keras.layers.IntegerLookup")
class IntegerLookup(IndexLookup):
    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError("If `max_tokens` is set for `IntegerLookup`, it must be greater "
                             f"than 1. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError("The value of `num_oov_indices` argument for `IntegerLookup` "
                             f"must >= 0. Received: num_oov_indices={num_oov_indices}")
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        if vocabulary_dtype != "int64":
            raise ValueError("Only `vocabulary_dtype='int64'` is supported at this time. "
                             f"Received: vocabulary_dtype={vocabulary_dtype}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         vocabulary_dtype=vocabulary_dtype, idf_weights=idf_weights,
                         invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt,
                         name=name, **kwargs)

    def _convert_token(self, token):
        return int(token)

    def _as_array(self, data):
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        return np.asarray(data, dtype=np.int64)

    def _table(self, device):
        if self._int_table is None or self._int_table[0].device != device:
            keys = torch.tensor(self._tokens, dtype=torch.int64).reshape(-1)
            keys, order = torch.sort(keys)
            values = (order + self._token_start_index()).to(torch.int64)
            self._int_table = (keys.to(device), values.to(device))
        return self._int_table

    def _lookup(self, inputs):
        keys, values = self._table(inputs.device)
        default = torch.full_like(inputs, self._default_value())
        if keys.numel() == 0:
            return default
        position = torch.searchsorted(keys, inputs).clamp(max=keys.numel() - 1)
        return torch.where(keys[position] == inputs, values[position], default)

    def _oov_values(self, lookups, inputs):
        return inputs[lookups == -1].tolist()

    def _hash_bytes(self, values):
        return [str(v).encode("ascii") for v in values.tolist()]  # as tf.strings.as_string

    def call(self, inputs):
        inputs = torch.as_tensor(self._as_array(inputs) if not isinstance(inputs, torch.Tensor)
                                 else inputs).to(torch.int64)
        if self.invert:
            tokens = torch.tensor([self.oov_token] * self._token_start_index() + self._tokens,
                                  dtype=torch.int64, device=inputs.device)
            known = (inputs >= self._token_start_index()) & (inputs < tokens.numel())
            output = torch.where(known, tokens[inputs.clamp(0, max(tokens.numel() - 1, 0))],
                                 torch.full_like(inputs, self.oov_token))
            if self.mask_token is not None:
                output = torch.where(inputs == 0, torch.full_like(inputs, self.mask_token),
                                     output)
            return output
        lookups = self._lookup(inputs)
        if self.mask_token is not None:
            mask_value = 0 if self.output_mode == "int" else _INT64_MAX
            lookups = torch.where(inputs == self.mask_token,
                                  torch.full_like(lookups, mask_value), lookups)
        self._check_oov(lookups, inputs)
        if self.num_oov_indices > 1 and self.oov_method == "farmhash":
            lookups = self._hash_oov(lookups, inputs.cpu().numpy())
        elif self.num_oov_indices > 1:
            oov = torch.remainder(inputs, self.num_oov_indices) + self._oov_start_index()
            lookups = torch.where(lookups == -1, oov, lookups)
        return self._encode(lookups)

    def get_config(self):
        config = super().get_config()
        if config["oov_token"] is not None:
            config["oov_token"] = int(config["oov_token"])
        if config["mask_token"] is not None:
            config["mask_token"] = int(config["mask_token"])
        if config["vocabulary"] is not None:
            config["vocabulary"] = [int(v) for v in config["vocabulary"]]
        return config


@keras_export("keras.layers.StringLookup")
class StringLookup(IndexLookup):
    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, vocabulary_dtype="string", **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (torch.Tensor, KerasTensor)):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)  # strings cannot be tensors: bypass tensor conversion

    def _convert_token(self, token):
        if isinstance(token, (bytes, np.bytes_)):
            return token.decode(self.encoding)
        return str(token)

    def _sort_key(self, token):
        return token.encode(self.encoding)  # TF sorts the UTF-8 bytes

    def _as_array(self, data):
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        array = np.asarray(data, dtype=object)
        return np.vectorize(self._convert_token, otypes=[object])(array) if array.size else array

    def _oov_values(self, lookups, inputs):
        return inputs[lookups.numpy() == -1].tolist()

    def _hash_bytes(self, values):
        return [s.encode("utf-8") for s in values.tolist()]

    def call(self, inputs):
        if self.invert:
            ids = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor)
                                  else inputs).to(torch.int64).cpu().numpy()
            vocab = self.get_vocabulary()
            tokens = [vocab[i] if self._token_start_index() <= i < len(vocab) else self.oov_token
                      for i in ids.reshape(-1).tolist()]
            if self.mask_token is not None:
                tokens = [self.mask_token if i == 0 else t
                          for i, t in zip(ids.reshape(-1).tolist(), tokens)]
            return np.array(tokens, dtype=str).reshape(ids.shape)
        strings = self._as_array(inputs)
        default = self._default_value()
        flat = [self._index.get(s, default) for s in strings.reshape(-1).tolist()]
        if self.mask_token is not None:
            mask_value = 0 if self.output_mode == "int" else _INT64_MAX
            flat = [mask_value if s == self.mask_token else v
                    for s, v in zip(strings.reshape(-1).tolist(), flat)]
        lookups = torch.tensor(flat, dtype=torch.int64).reshape(strings.shape)
        self._check_oov(lookups, strings)
        if self.num_oov_indices > 1:
            lookups = self._hash_oov(lookups, strings)
        return self._encode(lookups)

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]
        return {**config, "encoding": self.encoding}

"""`keras.utils.FeatureSpace`: one-stop preprocessing and encoding of structured data.

Each feature is a `Feature` (an input dtype, a preprocessing layer and an `output_mode`), made by
the static helpers (`FeatureSpace.float`, `float_rescaled`, `float_normalized`,
`float_discretized`, `integer_categorical`, `string_categorical`, `integer_hashed`,
`string_hashed`, or `FeatureSpace.feature` around any layer) or named by string with default
arguments; `crosses` (`Cross` or tuples of feature names) hash the preprocessed values of
several features together with `HashedCrossing`. `one_hot` features and crosses are encoded
with `CategoryEncoding(output_mode="multi_hot")` over their preprocessor's cardinality.

Keras behaviour kept: `adapt` fits every adaptable preprocessor (not a `Normalization` with
preset statistics, nor a `TextVectorization` with a given vocabulary) on its feature's column,
cut as Keras cuts a `tf.data` pipeline (a dict of arrays is sliced into rows and re-batched by
32; batches of scalars become columns `(batch, 1)`); `get_inputs()` returns a dict of
`Input(shape=(1,))` per feature and `get_encoded_features()` their encoded `KerasTensor`s (for
a Functional model); calling the space on a dict of arrays, lists, tensors or scalars returns
one concatenated float tensor (`output_mode="concat"`, features then crosses, each sorted by
name) or a dict of tensors (`"dict"`); a dict of scalars gives unbatched outputs; the config,
its module/class names (`Feature`, `Cross`, `TFDIdentity`), the build config and the `.keras`
layout (preprocessors saved under `preprocessors/...`) are Keras's, so a Keras-saved file loads
here and back; the error messages are Keras's.

`adapt(dataset)`: Keras takes a `tf.data.Dataset` of dicts; tkeras takes a dict of arrays/lists
(as Keras), or any iterable of dict batches: a list of dicts, a generator, a `PyDataset`, or a
`torch.utils.data.DataLoader` whose collate gives dicts. Elements that are `(x, y)` tuples use
`x`. Re-iterable datasets are read once per adaptable feature; one-shot iterators are read once
into memory first.

Deliberate differences: outputs are torch tensors computed eagerly by the tkeras layers (Keras
routes every call through TensorFlow); the classmethod `FeatureSpace.float` (Keras's API)
shadows `torch.nn.Module.float()`; crosses of more than two features also build symbolically
(Keras's `HashedCrossing.compute_output_shape` refuses them).
"""

import itertools

import numpy as np
import torch

from tkeras.core import registry
from tkeras.core.naming import auto_name
from tkeras.core.registry import keras_export
from tkeras.layers.input_layer import Input
from tkeras.layers.layer import Layer
from tkeras.layers.merging.merge import Concatenate
from tkeras.layers.preprocessing.category_encoding import CategoryEncoding
from tkeras.layers.preprocessing.discretization import Discretization
from tkeras.layers.preprocessing.hashed_crossing import HashedCrossing
from tkeras.layers.preprocessing.hashing import Hashing
from tkeras.layers.preprocessing.index_lookup import IntegerLookup
from tkeras.layers.preprocessing.index_lookup import StringLookup
from tkeras.layers.preprocessing.normalization import Normalization
from tkeras.layers.preprocessing.rescaling import Rescaling
from tkeras.layers.preprocessing.text_vectorization import TextVectorization

_MODULE = "keras.src.layers.preprocessing.feature_space"  # where Keras's configs place these
_ADAPT_BATCH_SIZE = 32  # Keras batches a dataset of scalars by 32 before adapting


@keras_export(f"{_MODULE}.Cross")
class Cross:
    """A feature cross: the names of the crossed features, the hashing space size and the
    encoding (`"one_hot"` or `"int"`)."""

    _keras_registered_name = "Cross"

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot'}}. Received: output_mode={output_mode}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_export(f"{_MODULE}.Feature")
class Feature:
    """One feature: its input dtype, its preprocessing layer (or that layer's config) and how
    its preprocessed value is encoded (`"int"`, `"one_hot"` or `"float"`)."""

    _keras_registered_name = "Feature"

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot', 'float'}}. Received: output_mode={output_mode}")
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = registry.deserialize_keras_object(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        return {"dtype": self.dtype,
                "preprocessor": registry.serialize_keras_object(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_export(f"{_MODULE}.TFDIdentity")
class TFDIdentity(Layer):
    """The preprocessor of `FeatureSpace.float`: returns its input (cast to its dtype)."""

    _keras_registered_name = "TFDIdentity"

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        # Keras's config for it is the base one (`name`, `trainable`, `dtype`) only, not the
        # automatic config of every `Layer.__init__` argument.
        return super().get_config()


# ----------------------------------------------------------------------------- data helpers


def _as_array(value):
    """NumPy view of a batch value; Python numbers become TensorFlow's default dtypes."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    array = np.asarray(value)
    if isinstance(value, (list, tuple, float, int)) and array.dtype.kind in "fi":
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype == np.int64 and np.all(np.abs(array) < 2**31):
            array = array.astype(np.int32)
    return array


def _elements(dataset):
    """The dicts a dataset yields (`(x, y)` tuples give `x`)."""
    for element in dataset:
        if isinstance(element, tuple) and element and isinstance(element[0], dict):
            element = element[0]
        if not isinstance(element, dict):
            raise ValueError("`adapt()` expects a dict of arrays/lists or an iterable of dicts "
                             f"(batches). Received an element of type {type(element)}.")
        yield element


def _column_batches(dataset, name):
    """Keras's batches of feature `name`: rows of a dict of arrays are batched by 32, batches of
    scalars become `(batch, 1)` columns."""
    if isinstance(dataset, dict):
        values = _as_array(dataset[name])
        if values.ndim == 1:  # rows are scalars: batched by 32
            for start in range(0, len(values), _ADAPT_BATCH_SIZE):
                yield values[start:start + _ADAPT_BATCH_SIZE, None]
        else:  # each row is one batch (a row of rank 1 becomes a column)
            for row in values:
                yield row[:, None] if row.ndim == 1 else row
        return
    pending = []
    for element in _elements(dataset):
        values = _as_array(element[name])
        if values.ndim == 0:  # unbatched scalars: batched by 32
            pending.append(values)
            if len(pending) == _ADAPT_BATCH_SIZE:
                yield np.stack(pending)[:, None]
                pending = []
        else:
            yield values[:, None] if values.ndim == 1 else values
    if pending:
        yield np.stack(pending)[:, None]


def _call_input(value):
    """A `(batch, 1)` column of a call's input (strings stay NumPy, numbers become tensors);
    returns `(column, rebatched)` where `rebatched` says a scalar became one row."""
    array = value if isinstance(value, torch.Tensor) else _as_array(value)
    rebatched = array.ndim == 0
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(-1, 1)
    if isinstance(array, np.ndarray) and array.dtype.kind not in "USO":
        array = torch.from_numpy(np.ascontiguousarray(array))
    return array, rebatched


# ----------------------------------------------------------------------------- FeatureSpace


@keras_export("keras.utils.FeatureSpace")
class FeatureSpace(Layer):
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or auto_name("float")
        preprocessor = TFDIdentity(dtype="float32", name=f"{name}_preprocessor")
        return Feature(dtype="float32", preprocessor=preprocessor, output_mode="float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or auto_name("float_rescaled")
        preprocessor = Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor")
        return Feature(dtype="float32", preprocessor=preprocessor, output_mode="float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or auto_name("float_normalized")
        preprocessor = Normalization(axis=-1, name=f"{name}_preprocessor")
        return Feature(dtype="float32", preprocessor=preprocessor, output_mode="float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        name = name or auto_name("float_discretized")
        preprocessor = Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries,
                                      name=f"{name}_preprocessor")
        return Feature(dtype="float32", preprocessor=preprocessor, output_mode=output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        name = name or auto_name("integer_categorical")
        preprocessor = IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                     num_oov_indices=num_oov_indices)
        return Feature(dtype="int32", preprocessor=preprocessor, output_mode=output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        name = name or auto_name("string_categorical")
        preprocessor = StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                    num_oov_indices=num_oov_indices)
        return Feature(dtype="string", preprocessor=preprocessor, output_mode=output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or auto_name("string_hashed")
        preprocessor = Hashing(name=f"{name}_preprocessor", num_bins=num_bins)
        return Feature(dtype="string", preprocessor=preprocessor, output_mode=output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or auto_name("integer_hashed")
        preprocessor = Hashing(name=f"{name}_preprocessor", num_bins=num_bins)
        return Feature(dtype="int32", preprocessor=preprocessor, output_mode=output_mode)

    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {name: self._standardize_feature(name, value)
                         for name, value in features.items()}
        crosses_list = []
        for cross in crosses or ():
            if isinstance(cross, dict):
                cross = registry.deserialize_keras_object(cross)
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ValueError("When specifying `crosses`, the argument `crossing_dim` "
                                     "(dimensionality of the crossing space) should be "
                                     "specified as well.")
                if any(key not in features for key in cross):
                    raise ValueError("All features referenced in the `crosses` argument should "
                                     "be present in the `features` dict. Received unknown "
                                     f"features: {cross}")
                cross = Cross(cross, crossing_dim=crossing_dim)
            crosses_list.append(cross)
        self.crosses = crosses_list
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'dict', 'concat'}}. Received: output_mode={output_mode}")
        self.output_mode = output_mode
        self.inputs = {name: Input(shape=(1,), dtype=feature.dtype, name=name)
                       for name, feature in self.features.items()}
        self.preprocessors = {name: feature.preprocessor
                              for name, feature in self.features.items()}
        self.encoded_features = None
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self.one_hot_encoders = {}
        self._is_adapted = False
        self.concat = None
        self._preprocessed_features_names = None
        self._crossed_features_names = None
        self._sublayers_built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return registry.deserialize_keras_object(feature)
        if feature == "float":
            return self.float(name=name)
        if feature == "float_normalized":
            return self.float_normalized(name=name)
        if feature == "float_rescaled":
            return self.float_rescaled(name=name)
        if feature == "float_discretized":
            return self.float_discretized(name=name, num_bins=self.num_discretization_bins)
        if feature == "integer_categorical":
            return self.integer_categorical(name=name)
        if feature == "string_categorical":
            return self.string_categorical(name=name)
        if feature == "integer_hashed":
            return self.integer_hashed(self.hashing_dim, name=name)
        if feature == "string_hashed":
            return self.string_hashed(self.hashing_dim, name=name)
        raise ValueError(f"Invalid feature type: {feature}")

    # ------------------------------------------------------------------------------ adapt

    def _list_adaptable_preprocessors(self):
        names = []
        for name in self.features:
            preprocessor = self.preprocessors[name]
            if isinstance(preprocessor, Normalization) and preprocessor.input_mean is not None:
                continue  # preset statistics
            if isinstance(preprocessor, TextVectorization) and (
                    preprocessor._has_input_vocabulary):
                continue  # given vocabulary
            if hasattr(preprocessor, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Fit the adaptable preprocessors on `dataset`: a dict of arrays/lists, or an iterable
        (list, generator, `PyDataset`, `DataLoader`) of dict batches (see the module doc)."""
        if not isinstance(dataset, dict) and (
                not hasattr(dataset, "__iter__") or isinstance(dataset, (str, bytes, np.ndarray,
                                                                         torch.Tensor))):
            raise ValueError("`adapt()` can only be called on a dict of arrays/lists or an "
                             "iterable of dict batches. Received instead: "
                             f"{dataset} (of type {type(dataset)})")
        if not isinstance(dataset, dict) and iter(dataset) is dataset:
            dataset = list(dataset)  # a one-shot iterator, read once by each feature below
        for name in self._list_adaptable_preprocessors():
            preprocessor = self.preprocessors[name]
            column = _column_batches(dataset, name)
            if isinstance(preprocessor, Normalization) and not preprocessor.built:
                # Keras builds it from the pipeline's element spec: batch size unknown.
                first = next(column)
                preprocessor.build((None,) + first.shape[1:])
                column = itertools.chain([first], column)
            preprocessor.adapt(column)
        self._is_adapted = True
        self.get_encoded_features()  # finish building the layer
        self.built = True
        self._sublayers_built = True

    def get_inputs(self):
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        self._check_if_adapted()
        if self.encoded_features is None:
            preprocessed = self._preprocess_features(self.inputs)
            crossed = self._cross_features(preprocessed)
            self.encoded_features = self._merge_features(preprocessed, crossed)
        return self.encoded_features

    # ------------------------------------------------------------------------------ call

    def _preprocess_features(self, features):
        return {name: self.preprocessors[name](features[name]) for name in features}

    def _cross_features(self, features):
        return {cross.name: self.crossers[cross.name](
            [features[name] for name in cross.feature_names]) for cross in self.crosses}

    def _merge_features(self, preprocessed_features, crossed_features):
        if not self._preprocessed_features_names:
            self._preprocessed_features_names = sorted(preprocessed_features)
            self._crossed_features_names = sorted(crossed_features)
        names = self._preprocessed_features_names + self._crossed_features_names
        values = ([preprocessed_features[n] for n in self._preprocessed_features_names]
                  + [crossed_features[n] for n in self._crossed_features_names])
        if not self._sublayers_built:
            values = [self._build_encoder(n, v) for n, v in zip(names, values)]
        else:
            values = [self.one_hot_encoders[n](v) if n in self.one_hot_encoders else v
                      for n, v in zip(names, values)]
        if self.output_mode == "dict":
            return dict(zip(names, values))
        if not self._sublayers_built:
            for name, value in zip(names, values):
                if value.dtype.startswith("int") or value.dtype == "string":
                    raise ValueError(f"Cannot concatenate features because feature '{name}' "
                                     f"has not been encoded (it has dtype {value.dtype}). "
                                     "Consider using `output_mode='dict'`.")
            self.concat = Concatenate(axis=-1)
        return self.concat(values)

    def _build_encoder(self, name, value):
        """Create the one-hot encoder of feature or cross `name` (Keras's first merge, on the
        symbolic inputs) and return its encoded value."""
        spec = self.features[name] if name in self.features else self.crosses_by_name[name]
        if spec.output_mode != "one_hot":
            return value
        dtype = value.dtype
        if not dtype.startswith("int"):
            raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its "
                             "preprocessor should return an integer dtype. Instead it returns "
                             f"a {dtype} dtype.")
        preprocessor = self.preprocessors.get(name) or self.crossers.get(name)
        if isinstance(preprocessor, (IntegerLookup, StringLookup)):
            cardinality = preprocessor.vocabulary_size()
        elif isinstance(preprocessor, CategoryEncoding):
            cardinality = preprocessor.num_tokens
        elif isinstance(preprocessor, (Discretization, HashedCrossing, Hashing)):
            cardinality = preprocessor.num_bins
        else:
            raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't "
                             "a standard feature and the dimensionality of its output space "
                             "is not known, thus it cannot be one-hot encoded. Try using "
                             "`output_mode='int'`.")
        if cardinality is None:
            return value
        encoder = CategoryEncoding(num_tokens=cardinality, output_mode="multi_hot")
        self.one_hot_encoders[name] = encoder
        return encoder(value)

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._list_adaptable_preprocessors():
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace before "
                                 "you can start using it.")
            self._is_adapted = True

    def _check_if_built(self):
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()  # finishes building
            self._sublayers_built = True

    def __call__(self, data):
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError("A FeatureSpace can only be called with a dict. "
                             f"Received: data={data} (of type {type(data)}")
        columns = {}
        rebatched = False
        for name, value in data.items():
            columns[name], scalar = _call_input(value)
            rebatched = rebatched or scalar
        preprocessed = self._preprocess_features(columns)
        merged = self._merge_features(preprocessed, self._cross_features(preprocessed))
        if rebatched:
            if self.output_mode == "concat":
                if merged.shape[0] != 1:
                    raise ValueError("Expected rebatched data to have batch size 1. "
                                     f"Received: shape={tuple(merged.shape)}")
                merged = merged.squeeze(0)
            else:
                merged = {name: x.squeeze(0) if x.ndim == 2 and x.shape[0] == 1 else x
                          for name, x in merged.items()}
        return merged

    # ------------------------------------------------------------------------------ config

    def get_config(self):
        return {"features": registry.serialize_keras_object(self.features),
                "output_mode": self.output_mode,
                "crosses": registry.serialize_keras_object(self.crosses),
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        return {name: feature.preprocessor.get_build_config()
                for name, feature in self.features.items()}

    def build_from_config(self, config):
        for name in config:
            preprocessor = self.features[name].preprocessor
            if not preprocessor.built:
                preprocessor.build_from_config(config[name])
        self._is_adapted = True

    def save(self, filepath):
        """Save to a `.keras` file; reload it with `keras.models.load_model()`."""
        from tkeras.saving import save_model

        save_model(self, filepath)


"""User-eyed audit: small keras.io-style Keras 3 programs, run unchanged on tkeras.

Each program is one source text that only says `keras` (and `np`, `torch`). It defines
`build()` (returns a built model) and `train(model)` (fits/evaluates/predicts and returns a dict
of numbers). The same text runs under real Keras (one subprocess for all programs, KERAS_BACKEND
=torch) and under tkeras (`keras = tkeras`); tkeras starts from Keras's initial weights
(`get_weights`/`set_weights`), so every number must agree. Data are generated with NumPy's seeded
generator; `shuffle=False`; randomness that the two libraries draw differently (dropout masks,
augmentation) is either made a no-op by the data (horizontally symmetric images under
RandomFlip) or set to rate 0 through the program's own hyperparameter for the training-parity
run, and checked in inference (where it is off) at its real rate.
"""

import os
import re
import sys

import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras, run_keras

pytestmark = requires_keras

# Adam for a few epochs amplifies float32 rounding differences a little: rel 1e-4 as briefed.
RTOL, ATOL = 1e-4, 1e-5

# --------------------------------------------------------------------------------------- programs
PROGRAMS = {}

# 1. A `keras.Model` subclass constructed the functional way, with a custom torch train_step
#    ("Customizing what happens in fit() with PyTorch"), and a subclass whose __init__ builds
#    the graph and calls super().__init__(inputs, outputs).
PROGRAMS["functional_subclass"] = """
import torch

class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

class Regressor(keras.Model):
    def __init__(self, units=8, **kwargs):
        inputs = keras.Input(shape=(6,))
        hidden = keras.layers.Dense(units, activation="relu")(inputs)
        outputs = keras.layers.Dense(1)(hidden)
        super().__init__(inputs, outputs, **kwargs)
        self.units = units

def build():
    inputs = keras.Input(shape=(6,))
    outputs = keras.layers.Dense(1)(keras.layers.Dense(8, activation="tanh")(inputs))
    model = CustomModel(inputs, outputs)
    model.second = Regressor(units=5, name="regressor")
    return model

def train(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    second = model.second
    second.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    second.set_weights([np.full(w.shape, 0.1, "float32") for w in second.get_weights()])
    h2 = second.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return {
        "is_custom": isinstance(model, CustomModel) and isinstance(model, keras.Model),
        "is_regressor": isinstance(second, Regressor) and second.units == 5,
        "n_layers": [len(model.layers), len(second.layers)],
        "history": {k: history.history[k] for k in sorted(history.history)},
        "h2": h2.history["loss"],
        "pred": model.predict(x[:8], verbose=0),
        "pred2": second.predict(x[:8], verbose=0),
    }
"""

# 2. VAE-style model (keras.io "Variational AutoEncoder", torch flavour): encoder/decoder
#    functional models, a regularizing layer with add_loss, Mean trackers, `metrics` property.
#    The sampling noise comes with the data (deterministic) instead of keras.random.
PROGRAMS["vae_train_step"] = """
import torch

class Sampling(keras.layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var, eps = inputs
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

class KLDivergence(keras.layers.Layer):
    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * (1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var))
        self.add_loss(self.weight * keras.ops.mean(keras.ops.sum(kl, axis=1)))
        return z_mean

class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, inputs):
        x, eps = inputs
        z_mean, z_log_var, z = self.encoder([x, eps])
        return self.decoder(z)

    def train_step(self, data):
        (x, eps), _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        reconstruction = self((x, eps), training=True)
        reconstruction_loss = keras.ops.mean(
            keras.ops.sum(keras.losses.binary_crossentropy(x, reconstruction), axis=1))
        kl_loss = keras.ops.sum(self.losses)
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

def build():
    latent_dim = 2
    x_in = keras.Input(shape=(4, 4))
    eps_in = keras.Input(shape=(latent_dim,))
    h = keras.layers.Flatten()(x_in)
    h = keras.layers.Dense(12, activation="relu")(h)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
    z_mean_reg = KLDivergence(weight=0.5)([z_mean, z_log_var])
    z = Sampling()([z_mean_reg, z_log_var, eps_in])
    encoder = keras.Model([x_in, eps_in], [z_mean, z_log_var, z], name="encoder")
    z_in = keras.Input(shape=(latent_dim,))
    d = keras.layers.Dense(12, activation="relu")(z_in)
    d = keras.layers.Dense(16, activation="sigmoid")(d)
    decoder = keras.Model(z_in, keras.layers.Reshape((4, 4))(d), name="decoder")
    vae = VAE(encoder, decoder)
    vae.build(None)
    return vae

def train(vae):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(48, 4, 4)).astype("float32")
    eps = rng.normal(size=(48, 2)).astype("float32")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2))
    history = vae.fit((x, eps), epochs=3, batch_size=16, shuffle=False, verbose=0)
    return {
        "metric_names": [m.name for m in vae.metrics],
        "history": {k: history.history[k] for k in sorted(history.history)},
        "recon": vae.predict((x[:6], eps[:6]), verbose=0),
        "n_losses_after_call": (vae((x[:4], eps[:4])), len(vae.losses))[1],
    }
"""

# 3. Transformer text classifier (keras.io "Text classification with Transformer") with
#    mask_zero token embeddings, positional embedding via ops.arange, MHA, LayerNorm,
#    GlobalAveragePooling1D and Dropout. `DROP` is the program's dropout hyperparameter.
PROGRAMS["transformer_classifier"] = """
DROP = 0.0

class TransformerBlock(keras.layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(embed_dim)])
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)
        self.supports_masking = True

    def call(self, inputs, training=False, mask=None):
        attention_mask = None
        if mask is not None:
            attention_mask = keras.ops.logical_and(
                keras.ops.expand_dims(mask, 1), keras.ops.expand_dims(mask, 2))
        attn_output = self.att(inputs, inputs, attention_mask=attention_mask)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

class TokenAndPositionEmbedding(keras.layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim,
                                                mask_zero=True)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = keras.ops.shape(x)[-1]
        positions = keras.ops.arange(start=0, stop=maxlen, step=1)
        return self.token_emb(x) + self.pos_emb(positions)

    def compute_mask(self, x, mask=None):
        return self.token_emb.compute_mask(x)

def build(rate=None):
    rate = DROP if rate is None else rate
    maxlen, vocab_size, embed_dim = 10, 30, 8
    inputs = keras.layers.Input(shape=(maxlen,), dtype="int32")
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, 2, 16, rate=rate)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(rate)(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)

def data():
    rng = np.random.default_rng(2)
    x = rng.integers(1, 30, size=(24, 10)).astype("int32")
    lengths = rng.integers(3, 11, size=(24,))
    x[np.arange(10)[None, :] >= lengths[:, None]] = 0  # right padding, masked out
    y = (x[:, 0] > 15).astype("int32")
    return x, y

def train(model):
    x, y = data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                        validation_data=(x[:8], y[:8]))
    return {
        "history": {k: history.history[k] for k in sorted(history.history)},
        "pred": model.predict(x[:10], verbose=0),
        "eval": model.evaluate(x, y, verbose=0),
    }

def infer(model):
    x, _ = data()
    return {"pred": model.predict(x[:10], verbose=0)}
"""

# 4. Multi-input / multi-output functional model with dict inputs and outputs, a loss dict,
#    loss_weights and a metrics dict (keras.io functional API "ticket ranking" example).
PROGRAMS["multi_io_dicts"] = """
def build():
    num_tags, num_words, num_departments = 6, 40, 3
    title_input = keras.Input(shape=(None,), name="title", dtype="int32")
    body_input = keras.Input(shape=(None,), name="body", dtype="int32")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = keras.layers.Embedding(num_words, 8)(title_input)
    body_features = keras.layers.Embedding(num_words, 8)(body_input)
    title_features = keras.layers.LSTM(6)(title_features)
    body_features = keras.layers.LSTM(5)(body_features)
    x = keras.layers.concatenate([title_features, body_features, tags_input])
    priority_pred = keras.layers.Dense(1, name="priority")(x)
    department_pred = keras.layers.Dense(num_departments, name="department")(x)
    return keras.Model(
        inputs={"title": title_input, "body": body_input, "tags": tags_input},
        outputs={"priority": priority_pred, "department": department_pred},
    )

def train(model):
    rng = np.random.default_rng(3)
    title = rng.integers(40, size=(16, 3)).astype("int32")
    body = rng.integers(40, size=(16, 4)).astype("int32")
    tags = rng.integers(2, size=(16, 6)).astype("float32")
    priority = rng.random(size=(16, 1)).astype("float32")
    dept = rng.integers(2, size=(16, 3)).astype("float32")
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-2),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["mae"], "department": ["categorical_accuracy"]},
    )
    history = model.fit({"title": title, "body": body, "tags": tags},
                        {"priority": priority, "department": dept},
                        epochs=2, batch_size=8, shuffle=False, verbose=0)
    pred = model.predict({"title": title[:5], "body": body[:5], "tags": tags[:5]}, verbose=0)
    ev = model.evaluate({"title": title, "body": body, "tags": tags},
                        {"priority": priority, "department": dept}, verbose=0,
                        return_dict=True)
    return {
        "history": {k: history.history[k] for k in sorted(history.history)},
        "pred_keys": sorted(pred),
        "priority": pred["priority"],
        "department": pred["department"],
        "eval": {k: ev[k] for k in sorted(ev)},
    }
"""

# 5. Conv net with augmentation layers in the model, BatchNormalization, Dropout,
#    ModelCheckpoint(save_best_only) + EarlyStopping(restore_best_weights). The images are
#    horizontally symmetric, so RandomFlip("horizontal") is a no-op on them in either library.
PROGRAMS["convnet_callbacks"] = """
DROP = 0.0

def build(rate=None):
    rate = DROP if rate is None else rate
    data_augmentation = keras.Sequential(
        [keras.layers.RandomFlip("horizontal")], name="data_augmentation")
    inputs = keras.Input(shape=(8, 8, 1))
    x = data_augmentation(inputs)
    x = keras.layers.Rescaling(1.0 / 255)(x)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(rate)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)

def data():
    rng = np.random.default_rng(4)
    half = rng.uniform(0, 255, size=(48, 8, 4, 1)).astype("float32")
    x = np.concatenate([half, half[:, :, ::-1]], axis=2)
    y = keras.utils.to_categorical(rng.integers(3, size=(48,)), 3)
    return x, y

def train(model):
    x, y = data()
    path = os.path.join(WORKDIR, "best.keras")
    callbacks = [
        keras.callbacks.ModelCheckpoint(path, save_best_only=True, monitor="val_loss"),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                      restore_best_weights=True),
    ]
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:32], y[:32], batch_size=8, epochs=12, shuffle=False, verbose=0,
                        validation_data=(x[32:], y[32:]), callbacks=callbacks)
    best = keras.models.load_model(path)
    return {
        "history": {k: history.history[k] for k in sorted(history.history)},
        "epochs_run": len(history.history["loss"]),
        "pred": model.predict(x[32:40], verbose=0),
        "best_pred": best.predict(x[32:40], verbose=0),
        "bn_moving": [model.layers[4].moving_mean, model.layers[4].moving_variance],
    }

def infer(model):
    x, _ = data()
    return {"pred": model.predict(x[32:40], verbose=0)}
"""

# 6. Custom layer with add_weight and get_config, registered for serialization, saved to
#    .keras and reloaded in the other library (both directions; see test_keras_file_*).
PROGRAMS["registered_custom_layer"] = """
@keras.saving.register_keras_serializable(package="Audit")
class ScaledDense(keras.layers.Layer):
    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scale = scale

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", trainable=True, name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="calls")

    def call(self, inputs):
        return self.scale * (keras.ops.matmul(inputs, self.w) + self.b)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "scale": self.scale})
        return config

def build():
    inputs = keras.Input(shape=(5,))
    x = ScaledDense(7, scale=0.5, name="scaled")(inputs)
    x = keras.layers.Activation("gelu")(x)
    outputs = ScaledDense(2, scale=2.0)(x)
    return keras.Model(inputs, outputs, name="custom_layer_model")

def train(model):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    path = os.path.join(WORKDIR, "custom_layer.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    return {
        "history": history.history["loss"],
        "config": model.get_layer("scaled").get_config(),
        "pred": model.predict(x[:6], verbose=0),
        "reloaded_pred": reloaded.predict(x[:6], verbose=0),
        "reloaded_type": type(reloaded.get_layer("scaled")).__name__,
    }

def reload(path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 5)).astype("float32")
    model = keras.saving.load_model(path)
    return {"pred": model.predict(x[:6], verbose=0),
            "type": type(model.get_layer("scaled")).__name__,
            "weights": model.get_weights()}
"""

# 7. keras.ops inside custom layers and a custom loss: attention pooling over a sequence with a
#    padding mask, plus a custom metric-like loss written with ops.
PROGRAMS["ops_in_layers"] = """
class AttentionPooling(keras.layers.Layer):
    def build(self, input_shape):
        self.query = self.add_weight(shape=(input_shape[-1],), initializer="glorot_uniform",
                                     name="query")

    def call(self, inputs):
        x = keras.ops.convert_to_tensor(inputs)
        batch, steps, dim = keras.ops.shape(x)
        valid = keras.ops.any(keras.ops.not_equal(x, 0.0), axis=-1)
        scores = keras.ops.matmul(x, keras.ops.reshape(self.query, (dim, 1)))[..., 0]
        scores = scores / keras.ops.sqrt(keras.ops.cast(dim, "float32"))
        scores = keras.ops.where(valid, scores, keras.ops.full_like(scores, -1e9))
        weights = keras.ops.softmax(scores, axis=-1)
        pooled = keras.ops.sum(x * keras.ops.expand_dims(weights, -1), axis=1)
        mean = keras.ops.sum(x, axis=1) / keras.ops.maximum(
            keras.ops.sum(keras.ops.cast(valid, "float32"), axis=1, keepdims=True), 1.0)
        return keras.ops.concatenate([pooled, mean], axis=-1)

class GatedResidual(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = keras.layers.Dense(units)
        self.gate = keras.layers.Dense(units)

    def call(self, x):
        g = keras.ops.sigmoid(self.gate(x))
        h = keras.ops.tanh(self.proj(x))
        out = g * h + (1.0 - g) * x[..., : self.units]
        norm = keras.ops.sqrt(keras.ops.mean(keras.ops.square(out), axis=-1, keepdims=True))
        return out / keras.ops.maximum(norm, 1e-6)

def smooth_l1(y_true, y_pred):
    diff = keras.ops.abs(y_true - y_pred)
    loss = keras.ops.where(diff < 1.0, 0.5 * keras.ops.square(diff), diff - 0.5)
    return keras.ops.mean(loss, axis=-1)

def build():
    inputs = keras.Input(shape=(6, 4))
    x = AttentionPooling()(inputs)
    x = GatedResidual(4)(x)
    x = keras.layers.Dense(3)(x)
    outputs = keras.layers.Lambda(lambda t: keras.ops.clip(t, -3.0, 3.0))(x)
    return keras.Model(inputs, outputs)

def train(model):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 6, 4)).astype("float32")
    x[:, 4:] = 0.0
    x[::3, 2:] = 0.0
    y = rng.normal(size=(32, 3)).astype("float32")
    model.compile(optimizer="adam", loss=smooth_l1)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    t = keras.ops.convert_to_tensor(x[:2])
    misc = {
        "argmax": keras.ops.argmax(t, axis=-1),
        "top_k": keras.ops.top_k(keras.ops.reshape(t, (2, -1)), 3)[0],
        "one_hot": keras.ops.one_hot(keras.ops.convert_to_tensor([0, 2, 1]), 3),
        "einsum": keras.ops.einsum("bij,bkj->bik", t, t),
        "std": keras.ops.std(t, axis=1),
        "logsumexp": keras.ops.logsumexp(t, axis=-1),
        "cumsum": keras.ops.cumsum(t, axis=1),
        "transpose": keras.ops.transpose(t, (0, 2, 1)),
        "stack": keras.ops.stack([t, t], axis=1),
        "norm": keras.ops.norm(t, axis=-1),
        "tile": keras.ops.tile(t[:, :1], (1, 2, 1)),
        "split": keras.ops.split(t, 2, axis=1)[1],
        "arange_dtype": str(keras.ops.arange(5).dtype).split(".")[-1],
        "mean_int": keras.ops.mean(keras.ops.convert_to_tensor([1, 2])),
        "float_dtype": str(keras.ops.convert_to_tensor(1.5).dtype).split(".")[-1],
    }
    misc["mean_int_dtype"] = str(misc.pop("mean_int").dtype).split(".")[-1]
    return {
        "history": history.history["loss"],
        "pred": model.predict(x[:8], verbose=0),
        **{"misc_" + k: (v if isinstance(v, str) else keras.ops.convert_to_numpy(v))
           for k, v in misc.items()},
    }
"""

# 8. Stateful LSTM: fixed batch size, states carried across batches, reset between epochs.
PROGRAMS["stateful_lstm"] = """
class ResetStates(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

def build():
    inputs = keras.Input(batch_shape=(4, 5, 3))
    # use_cudnn=False: Keras 3.15's torch "auto" LSTM path cannot backpropagate a stateful
    # LSTM (keras-team/keras#20875: its state is updated in place); users turn it off.
    x = keras.layers.LSTM(6, stateful=True, return_sequences=True, use_cudnn=False)(inputs)
    x = keras.layers.LSTM(4, stateful=True, use_cudnn=False)(x)
    outputs = keras.layers.Dense(1)(x)
    return keras.Model(inputs, outputs)

def train(model):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                        callbacks=[ResetStates()])
    state_after_fit = [keras.ops.convert_to_numpy(s) for s in model.layers[2].states]
    p1 = model.predict(x[:8], batch_size=4, verbose=0)
    p2 = model.predict(x[:8], batch_size=4, verbose=0)  # states carried on
    model.layers[1].reset_states()
    model.layers[2].reset_states()
    p3 = model.predict(x[:8], batch_size=4, verbose=0)
    return {"history": history.history["loss"], "p1": p1, "p2": p2, "p3": p3,
            "state_after_fit": state_after_fit}
"""

# 9. keras.utils.PyDataset (with on_epoch_end) for fit, validation and predict.
PROGRAMS["pydataset_fit"] = """
class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.begun = self.ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, idx):
        lo = idx * self.batch_size
        hi = min(lo + self.batch_size, len(self.x))
        return self.x[lo:hi], self.y[lo:hi]

    def on_epoch_begin(self):
        self.begun += 1

    def on_epoch_end(self):
        self.ended += 1

def build():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="elu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    return model

def train(model):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(50, 5)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    train_ds = Batches(x[:40], y[:40], batch_size=12, workers=0)
    val_ds = Batches(x[40:], y[40:], batch_size=6, workers=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    history = model.fit(train_ds, validation_data=val_ds, epochs=3, shuffle=False, verbose=0)
    return {
        "history": {k: history.history[k] for k in sorted(history.history)},
        "pred": model.predict(Batches(x[:10], y[:10], batch_size=4, workers=0), verbose=0),
        "eval": model.evaluate(val_ds, verbose=0),
        "hook_calls": {"train": [train_ds.begun, train_ds.ended],
                       "val": [val_ds.begun, val_ds.ended]},
    }
"""

# 10. Subclassed model with nested sublayers, call(inputs, training=False); summary() and
#     count_params() compared as text with Keras.
PROGRAMS["subclassed_nested"] = """
class ResidualBlock(keras.layers.Layer):
    def __init__(self, units, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = keras.layers.Dense(units, activation="relu")
        self.dense2 = keras.layers.Dense(units)
        self.norm = keras.layers.LayerNormalization()
        self.dropout = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        h = self.dense2(self.dense1(inputs))
        h = self.dropout(h, training=training)
        return self.norm(inputs + h)

class Tower(keras.Model):
    def __init__(self, units=8, depth=2, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.stem = keras.layers.Dense(units)
        self.blocks = [ResidualBlock(units) for _ in range(depth)]
        self.head = keras.layers.Dense(num_classes)

    def call(self, inputs, training=False):
        x = self.stem(inputs)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(x)

def build():
    model = Tower(name="tower")
    model(np.zeros((1, 4), "float32"))  # Keras's Model.build((None, 4)) leaves this unbuilt
    return model

def train(model):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(30, 4)).astype("float32")
    y = rng.integers(3, size=(30,))
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"])
    history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    return {
        "summary": "\\n".join(lines),
        "count_params": model.count_params(),
        "n_weights": [len(model.weights), len(model.trainable_weights)],
        "weight_paths": [w.path for w in model.weights],
        "history": {k: history.history[k] for k in sorted(history.history)},
        "pred": model.predict(x[:5], verbose=0),
        "pred_training": keras.ops.convert_to_numpy(model(x[:5], training=True)),
    }
"""

# ------------------------------------------------------------------------------- shared runner
# Executed verbatim under both libraries; `keras` is passed in.
RUNNER = r'''
import os
import numpy as np


def to_plain(value):
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        return np.asarray(value.numpy())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def flatten(prefix, value, out):
    """Arrays (and lists holding arrays) become `prefix/i` entries; the rest stays JSON."""
    value = to_plain(value)
    if isinstance(value, np.ndarray):
        out[prefix] = value
    elif isinstance(value, list) and any(isinstance(v, np.ndarray) for v in value):
        for i, v in enumerate(value):
            flatten(f"{prefix}/{i}", v, out)
        out[prefix + "/len"] = len(value)
    else:
        out[prefix] = value


def normalize_path(path):
    """Weight paths without the process-wide name counters (`lstm_3/...` -> `lstm/...`)."""
    import re
    return re.sub(r"_\d+(?=/|$)", "", path)


def namespace(keras, src, workdir):
    import torch
    ns = {"keras": keras, "np": np, "os": os, "torch": torch, "WORKDIR": workdir,
          "__name__": "user_program"}
    exec(src, ns)
    return ns


def run_program(keras, name, src, workdir, init_weights=None, infer_weights=None):
    """build() [+ set_weights] -> train(); with `infer`, also inference at a real dropout rate."""
    ns = namespace(keras, src, workdir)
    out = {}
    model = ns["build"]()
    if init_weights is None:
        flatten(name + "/w0", model.get_weights(), out)
        out[name + "/w0_paths"] = [w.path for w in model.weights]
    elif isinstance(init_weights, dict):  # {normalized path: [arrays in order]}
        pools = {k: list(v) for k, v in init_weights.items()}
        model.set_weights([pools[normalize_path(w.path)].pop(0) for w in model.weights])
    else:
        model.set_weights(init_weights)
    result = dict(ns["train"](model))
    result["weights"] = model.get_weights()
    for key, value in result.items():
        flatten(f"{name}/{key}", value, out)
    if "infer" in ns:
        model = ns["build"](rate=0.3)
        if infer_weights is None:
            flatten(name + "/infer_w0", model.get_weights(), out)
        else:
            model.set_weights(infer_weights)
        flatten(name + "/infer_pred", ns["infer"](model)["pred"], out)
    return out
'''

KERAS_CODE = """
exec(RUNNER, globals())
for name, src in PROGRAMS.items():
    d = os.path.join(WORKDIR_ROOT, "keras_" + name)
    os.makedirs(d, exist_ok=True)
    try:
        outputs.update(run_program(keras, name, src, d))
    except Exception:  # reported by that program's test
        import traceback
        outputs[name + "/keras_error"] = traceback.format_exc()

# tkeras -> Keras: Keras loads the .keras file tkeras saved.
path = os.path.join(WORKDIR_ROOT, "tkeras_custom_layer.keras")
if os.path.exists(path):
    try:
        ns = namespace(keras, PROGRAMS["registered_custom_layer"], WORKDIR_ROOT)
        res = ns["reload"](path)
        outputs["from_tkeras/pred"] = res["pred"]
        outputs["from_tkeras/type"] = res["type"]
    except Exception:
        import traceback
        outputs["from_tkeras/error"] = traceback.format_exc()
"""


def _ns(src, workdir):
    runner = {}
    exec(RUNNER, runner)
    return runner, runner["namespace"](tkeras, src, workdir)


def _list(results, prefix):
    return [results[f"{prefix}/{i}"] for i in range(results[prefix + "/len"])]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("user_programs"))


@pytest.fixture(scope="module")
def tkeras_saved(workdir):
    """tkeras saves the custom-layer model first (its own initial weights) for Keras to load."""
    import traceback

    try:
        _, ns = _ns(PROGRAMS["registered_custom_layer"], workdir)
        model = ns["build"]()
        model.save(os.path.join(workdir, "tkeras_custom_layer.keras"))
        x = np.random.default_rng(5).normal(size=(40, 5)).astype("float32")
        return {"pred": model.predict(x[:6], verbose=0)}
    except Exception:  # reported by test_tkeras_file_loads_in_keras; Keras runs the rest
        return {"error": traceback.format_exc()}


@pytest.fixture(scope="module")
def keras_results(workdir, tkeras_saved):
    code = f"PROGRAMS = {PROGRAMS!r}\nRUNNER = {RUNNER!r}\nWORKDIR_ROOT = {workdir!r}\n"
    return run_keras(code + KERAS_CODE, timeout=600)


_TKERAS_RUNS = {}


def run_tkeras(name, keras_results, workdir, by_path=False):
    key = (name, by_path)
    if key not in _TKERAS_RUNS:
        _TKERAS_RUNS[key] = _run_tkeras(name, keras_results, workdir, by_path)
    return _TKERAS_RUNS[key]


def _run_tkeras(name, keras_results, workdir, by_path):
    """The program under tkeras from Keras's initial weights (matched by weight path when
    `by_path`, else in `get_weights` order as a user would transfer them)."""
    if name + "/keras_error" in keras_results:
        raise AssertionError("the program fails under Keras itself:\n"
                             + keras_results[name + "/keras_error"])
    d = os.path.join(workdir, f"tkeras_{name}_{int(by_path)}")
    os.makedirs(d, exist_ok=True)
    runner = {}
    exec(RUNNER, runner)
    infer_w = (_list(keras_results, name + "/infer_w0")
               if name + "/infer_w0/len" in keras_results else None)
    init = _list(keras_results, name + "/w0")
    if by_path:
        paths = [runner["normalize_path"](p) for p in keras_results[name + "/w0_paths"]]
        by = {}
        for path, value in zip(paths, init):
            by.setdefault(path, []).append(value)
        init = by
    return runner["run_program"](tkeras, name, PROGRAMS[name], d, init_weights=init,
                                 infer_weights=infer_w)


def assert_same(ours, theirs, name, skip=()):
    keys = {k for k in theirs if k.startswith(name + "/") and "/w0" not in k
            and "/infer_w0" not in k and not any(s in k for s in skip)}
    missing = sorted(keys - set(ours))
    assert not missing, f"tkeras produced no {missing}"
    for key in sorted(keys):
        a, b = ours[key], theirs[key]
        _assert_close(a, b, key)


def _assert_close(a, b, key):
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{key}: shape {a.shape} vs Keras {b.shape}"
        assert a.dtype == b.dtype, f"{key}: dtype {a.dtype} vs Keras {b.dtype}"
        if b.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=key)
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)
    elif isinstance(b, dict):
        assert isinstance(a, dict) and sorted(a) == sorted(b), f"{key}: {a} vs Keras {b}"
        for k in b:
            _assert_close(a[k], b[k], f"{key}.{k}")
    elif isinstance(b, (list, tuple)):
        assert isinstance(a, (list, tuple)) and len(a) == len(b), f"{key}: {a} vs Keras {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{key}[{i}]")
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=RTOL, abs=ATOL), f"{key}: {a} vs Keras {b}"
    else:
        assert a == b, f"{key}: {a!r} vs Keras {b!r}"


# ------------------------------------------------------------------------------- tests
def test_functional_subclass(keras_results, workdir):
    ours = run_tkeras("functional_subclass", keras_results, workdir)
    assert keras_results["functional_subclass/is_custom"] is True
    assert_same(ours, keras_results, "functional_subclass", skip=("/history",))
    _assert_close(ours["functional_subclass/history"]["loss"],
                  keras_results["functional_subclass/history"]["loss"], "history.loss")


def test_functional_subclass_history_keys(keras_results, workdir):
    ours = run_tkeras("functional_subclass", keras_results, workdir)
    _assert_close(ours["functional_subclass/history"],
                  keras_results["functional_subclass/history"], "history")


def test_vae_custom_train_step(keras_results, workdir):
    ours = run_tkeras("vae_train_step", keras_results, workdir)
    assert keras_results["vae_train_step/metric_names"] == [
        "total_loss", "reconstruction_loss", "kl_loss"]
    assert_same(ours, keras_results, "vae_train_step")


def test_transformer_text_classifier(keras_results, workdir):
    ours = run_tkeras("transformer_classifier", keras_results, workdir)
    assert_same(ours, keras_results, "transformer_classifier")


def test_multi_io_dicts(keras_results, workdir):
    ours = run_tkeras("multi_io_dicts", keras_results, workdir)
    assert_same(ours, keras_results, "multi_io_dicts")


def test_multi_io_dicts_numbers(keras_results, workdir):
    """Same program, Keras's initial weights matched by weight path (not get_weights order)."""
    ours = run_tkeras("multi_io_dicts", keras_results, workdir, by_path=True)
    assert_same(ours, keras_results, "multi_io_dicts", skip=("/weights/",))


def test_convnet_augmentation_callbacks(keras_results, workdir):
    ours = run_tkeras("convnet_callbacks", keras_results, workdir)
    # EarlyStopping must stop before the 12 epochs for the callbacks to be exercised.
    assert keras_results["convnet_callbacks/epochs_run"] < 12
    assert_same(ours, keras_results, "convnet_callbacks")


def test_registered_custom_layer_roundtrips(keras_results, workdir):
    ours = run_tkeras("registered_custom_layer", keras_results, workdir)
    assert_same(ours, keras_results, "registered_custom_layer")


def test_keras_file_loads_in_tkeras(keras_results, workdir):
    """Keras -> tkeras: the .keras file Keras saved (after training) predicts the same."""
    _, ns = _ns(PROGRAMS["registered_custom_layer"], workdir)
    res = ns["reload"](os.path.join(workdir, "keras_registered_custom_layer",
                                    "custom_layer.keras"))
    assert res["type"] == "ScaledDense"
    np.testing.assert_allclose(res["pred"], keras_results["registered_custom_layer/pred"],
                               rtol=1e-5, atol=1e-6)


def test_tkeras_file_loads_in_keras(keras_results, tkeras_saved):
    """tkeras -> Keras: Keras rebuilds the registered layer and predicts tkeras's numbers."""
    assert "error" not in tkeras_saved, tkeras_saved.get("error")
    assert "from_tkeras/error" not in keras_results, keras_results.get("from_tkeras/error")
    assert keras_results["from_tkeras/type"] == "ScaledDense"
    np.testing.assert_allclose(keras_results["from_tkeras/pred"], tkeras_saved["pred"],
                               rtol=1e-5, atol=1e-6)


def test_ops_in_custom_layers(keras_results, workdir):
    ours = run_tkeras("ops_in_layers", keras_results, workdir)
    assert_same(ours, keras_results, "ops_in_layers")


def test_stateful_lstm_reset_states(keras_results, workdir):
    ours = run_tkeras("stateful_lstm", keras_results, workdir)
    # The states matter: predicting twice without a reset differs; after a reset it repeats.
    assert not np.allclose(keras_results["stateful_lstm/p1"], keras_results["stateful_lstm/p2"])
    assert_same(ours, keras_results, "stateful_lstm")


def test_pydataset_fit(keras_results, workdir):
    ours = run_tkeras("pydataset_fit", keras_results, workdir)
    assert_same(ours, keras_results, "pydataset_fit", skip=("/hook_calls",))


def test_pydataset_hook_calls(keras_results, workdir):
    ours = run_tkeras("pydataset_fit", keras_results, workdir)
    assert (ours["pydataset_fit/hook_calls"]["train"]
            == keras_results["pydataset_fit/hook_calls"]["train"])


def _normalize_summary(text):
    """Layer names carry process-wide counters (dense_7): compare without the suffixes and
    the padding they change."""
    return re.sub(r" +", " ", re.sub(r"_\d+\b", "", text))


def test_subclassed_nested_summary(keras_results, workdir):
    ours = run_tkeras("subclassed_nested", keras_results, workdir)
    key = "subclassed_nested/summary"
    assert _normalize_summary(ours[key]) == _normalize_summary(keras_results[key])
    assert_same(ours, keras_results, "subclassed_nested", skip=("/summary", "/weight_paths"))
    assert ([_normalize_summary(p) for p in ours["subclassed_nested/weight_paths"]]
            == [_normalize_summary(p) for p in keras_results["subclassed_nested/weight_paths"]])


def test_ops_is_an_attribute_of_the_package():
    """`import tkeras as keras; keras.ops.matmul(...)` works without importing tkeras.ops."""
    import subprocess

    code = "import tkeras as keras; print(keras.ops.matmul)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]

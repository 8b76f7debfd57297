"""Keras FAQ: "How can I interrupt training when the validation loss isn't decreasing anymore?"

EarlyStopping on `val_loss`, with the validation data taken by `validation_split` (the last
20% of the samples, before shuffling).
"""

import numpy as np

import tkeras as keras
import tkeras.callbacks  # noqa: F401


def main(epochs=100):
    rng = np.random.RandomState(0)
    x = rng.rand(200, 8).astype("float32")
    y = (x.sum(axis=1, keepdims=True) + rng.normal(0, 2.0, (200, 1))).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(x, y, validation_split=0.2, callbacks=[early_stopping], epochs=epochs,
                        verbose=0)
    print(f"stopped after {len(history.history['loss'])} epochs; "
          f"best val_loss {min(history.history['val_loss']):.4f}")
    return history, early_stopping


if __name__ == "__main__":
    main()

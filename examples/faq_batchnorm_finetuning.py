"""Keras FAQ / transfer learning: fine-tuning a base model that contains BatchNormalization.

With `base_model.trainable = False`, its BatchNormalization layers run in inference mode (their
moving statistics stay as they are), even though `fit` calls the model with `training=True`.
"""

import numpy as np

import tkeras as keras


def main(epochs=2):
    rng = np.random.RandomState(0)
    base_model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16),
                                   keras.layers.BatchNormalization(),
                                   keras.layers.Activation("relu")])
    base_model.trainable = False
    inputs = keras.Input((16,))
    x = base_model(inputs, training=False)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x = rng.rand(128, 16).astype("float32") * 3 + 1
    y = rng.rand(128, 1).astype("float32")
    frozen = [w.copy() for w in base_model.get_weights()]
    model.fit(x, y, epochs=epochs, verbose=0)
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, base_model.get_weights()))
    print(f"base model (incl. BatchNormalization statistics) unchanged: {unchanged}")
    return unchanged


if __name__ == "__main__":
    import tkeras.optimizers  # noqa: F401

    main()

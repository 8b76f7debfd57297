"""tkeras quick start: a Keras script, unchanged but for the import, on PyTorch.

Trains a small CNN on scikit-learn's bundled handwritten digits (1,797 8x8 images; nothing is
downloaded), saves it as a `.keras` file, reloads it and evaluates it.
"""

import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import tkeras as keras
from tkeras import layers

keras.utils.set_random_seed(1337)

images, labels = load_digits(return_X_y=True)
images = (images / 16.0).astype("float32").reshape(-1, 8, 8, 1)
order = np.random.default_rng(0).permutation(len(images))
images, labels = images[order], labels[order]
x_train, y_train = images[:1500], labels[:1500]
x_test, y_test = images[1500:], labels[1500:]

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(momentum=0.9),
    layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, padding="same", activation="relu"),
    layers.GlobalAveragePooling2D(),
    layers.Dropout(0.2),
    layers.Dense(10, activation="softmax"),
], name="digits_cnn")
model.summary()

model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=64, epochs=10, validation_split=0.1,
                    callbacks=[keras.callbacks.EarlyStopping(patience=3,
                                                             restore_best_weights=True)])

path = os.path.join(tempfile.mkdtemp(), "digits.keras")
model.save(path)
reloaded = keras.models.load_model(path)
np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                           rtol=1e-5, atol=1e-6)

loss, accuracy = reloaded.evaluate(x_test, y_test, verbose=0)
print(f"\nSaved to {path} ({os.path.getsize(path) / 1024:.0f} KiB) and reloaded.")
print(f"Test loss {loss:.4f}, test accuracy {accuracy:.3f} on {len(x_test)} held-out digits.")
assert accuracy > 0.9, "the quick start model should reach > 90% test accuracy"

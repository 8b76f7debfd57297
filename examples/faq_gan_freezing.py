"""Keras FAQ: "How can I freeze layers?" -- the GAN pattern.

`compile()` records which weights train: the discriminator, compiled while trainable, keeps
training in its own `fit`; the combined model, compiled after `discriminator.trainable = False`,
only trains the generator.
"""

import numpy as np

import tkeras as keras


def main(steps=3):
    latent_dim = 4
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                                      keras.layers.Dense(1, activation="sigmoid")])
    discriminator.compile(optimizer="adam", loss="binary_crossentropy")
    discriminator.trainable = False  # frozen inside `gan`, still trained by its own fit

    generator = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(2)])
    gan = keras.Sequential([generator, discriminator])
    gan.compile(optimizer="adam", loss="binary_crossentropy")

    rng = np.random.RandomState(0)
    real = rng.normal(2.0, 0.5, (64, 2)).astype("float32")
    for _ in range(steps):
        noise = rng.normal(size=(64, latent_dim)).astype("float32")
        fake = generator.predict(noise, verbose=0)
        x = np.concatenate([real, fake])
        y = np.concatenate([np.ones((64, 1)), np.zeros((64, 1))]).astype("float32")
        d_loss = discriminator.train_on_batch(x, y)  # updates the discriminator
        g_loss = gan.train_on_batch(noise, np.ones((64, 1), "float32"))  # only the generator
        print(f"d_loss={d_loss:.4f} g_loss={g_loss:.4f}")
    return generator, discriminator, gan


if __name__ == "__main__":
    main()

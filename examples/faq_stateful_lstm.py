"""Keras FAQ: "How can I use stateful RNNs?" -- `train_on_batch` on consecutive chunks of the
same sequences, then `reset_states()`."""

import numpy as np

import tkeras as keras


def main():
    x = np.random.RandomState(0).rand(32, 21, 16).astype("float32")
    model = keras.Sequential([
        keras.Input(batch_shape=(32, 10, 16)),
        keras.layers.LSTM(32, stateful=True),
        keras.layers.Dense(16, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    # Train the network to predict the 11th timestep given the first 10, then the 21st given
    # timesteps 11..20: the state carries over between the two calls.
    first = model.train_on_batch(x[:, :10, :], np.reshape(x[:, 10, :], (32, 16)))
    second = model.train_on_batch(x[:, 10:20, :], np.reshape(x[:, 20, :], (32, 16)))
    model.layers[0].reset_states()
    print(f"losses: {first:.4f} {second:.4f}")
    return first, second


if __name__ == "__main__":
    main()

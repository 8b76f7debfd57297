"""Keras FAQ: "How can I ensure my training run can recover from program interruptions?"

BackupAndRestore saves the training state at each epoch end; a second `fit` with the same
callback resumes at the epoch where the first one was interrupted.
"""

import tempfile

import numpy as np

import tkeras as keras
import tkeras.callbacks  # noqa: F401
import tkeras.optimizers  # noqa: F401


class InterruptingCallback(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 4:
            raise RuntimeError("Interrupting!")


def main(backup_dir=None):
    backup_dir = backup_dir or tempfile.mkdtemp()
    callback = keras.callbacks.BackupAndRestore(backup_dir=backup_dir)
    model = keras.models.Sequential([keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(), loss="mse")
    model.build(input_shape=(None, 20))
    x = np.arange(100).reshape(5, 20)
    try:
        model.fit(x, np.zeros(5), epochs=10, batch_size=1,
                  callbacks=[callback, InterruptingCallback()], verbose=0)
    except RuntimeError:
        pass
    history = model.fit(x, np.zeros(5), epochs=10, batch_size=1, callbacks=[callback],
                        verbose=0)
    print(f"epochs run after resuming: {len(history.history['loss'])}")  # 6
    return history


if __name__ == "__main__":
    main()

"""`keras.optimizers.legacy`: in Keras 3 every name there is a class that raises on use."""


class LegacyOptimizerWarning:
    """Keras 3's stand-in for `keras.optimizers.legacy.*` (Keras 2's `tf.keras` optimizers):
    creating one raises `ImportError` with Keras's message."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "`keras.optimizers.legacy` is not supported in Keras 3. When using `tf.keras`, to "
            "continue using a `tf.keras.optimizers.legacy` optimizer, you can install the "
            "`tf_keras` package (Keras 2) and set the environment variable "
            "`TF_USE_LEGACY_KERAS=True` to configure TensorFlow to use `tf_keras` when "
            "accessing `tf.keras`."
        )

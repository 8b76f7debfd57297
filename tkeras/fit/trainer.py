"""`Trainer`: compile/fit/evaluate/predict for `Model` (implemented on Lightning Fabric)."""


class Trainer:
    """Mixin giving `Model` Keras's training API. Filled in by the fit loop."""

    def _init_trainer(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compile_config = None
        self.stop_training = False
        self.history = None

    def get_compile_config(self):
        if self.compiled and self._compile_config is not None:
            return self._compile_config
        return {}

    def compile_from_config(self, config):
        if config:
            self.compile(**config)

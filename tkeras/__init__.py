"""tkeras: Keras 3 on PyTorch. `import tkeras as keras`."""

__version__ = "0.1.0"

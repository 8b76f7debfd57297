"""Keras file formats (`.keras`, `.weights.h5`, legacy `.h5`, `.safetensors`), read safely.

The public entry points are in `tkeras.saving`; this package holds the format code.
"""

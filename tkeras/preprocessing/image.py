"""`keras.preprocessing.image`: PIL image helpers and `smart_resize`."""

from tkeras.utils.image_utils import (  # noqa: F401
    array_to_img,
    img_to_array,
    load_img,
    save_img,
    smart_resize,
)

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]

"""`keras.visualization`: draw boxes and masks on image batches, plot galleries.

As Keras: `draw_bounding_boxes` needs OpenCV (`cv2`) and the `plot_*` functions need
matplotlib; both are optional imports and a missing one raises Keras's ImportError when the
function is called.
"""

from tkeras.visualization.draw_bounding_boxes import draw_bounding_boxes
from tkeras.visualization.draw_segmentation_masks import draw_segmentation_masks
from tkeras.visualization.plot_bounding_box_gallery import plot_bounding_box_gallery
from tkeras.visualization.plot_image_gallery import plot_image_gallery
from tkeras.visualization.plot_segmentation_mask_gallery import plot_segmentation_mask_gallery

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]

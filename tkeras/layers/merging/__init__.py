from tkeras.layers.merging.merge import Add
from tkeras.layers.merging.merge import Average
from tkeras.layers.merging.merge import Concatenate
from tkeras.layers.merging.merge import Dot
from tkeras.layers.merging.merge import Maximum
from tkeras.layers.merging.merge import Minimum
from tkeras.layers.merging.merge import Multiply
from tkeras.layers.merging.merge import Subtract
from tkeras.layers.merging.merge import add
from tkeras.layers.merging.merge import average
from tkeras.layers.merging.merge import concatenate
from tkeras.layers.merging.merge import dot
from tkeras.layers.merging.merge import maximum
from tkeras.layers.merging.merge import minimum
from tkeras.layers.merging.merge import multiply
from tkeras.layers.merging.merge import subtract

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
           "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract"]

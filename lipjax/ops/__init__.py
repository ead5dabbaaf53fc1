"""Pure array functions without parameters: length regulation, dynamic and transposed
convolution, alignment."""

from lipjax.ops.conv_transpose import conv_transpose, conv_transpose_output_size, conv_transpose_same
from lipjax.ops.alignment import durations_from_alignment, monotonic_alignment_search
from lipjax.ops.dynamic_conv import DYNAMIC_CONV_METHODS, dynamic_conv
from lipjax.ops.length_regulator import expand, length_regulate, LengthRegulation

__all__ = [
    "conv_transpose",
    "conv_transpose_output_size",
    "conv_transpose_same",
    "expand",
    "length_regulate",
    "LengthRegulation",
    "dynamic_conv",
    "DYNAMIC_CONV_METHODS",
    "monotonic_alignment_search",
    "durations_from_alignment",
]

"""Pure array functions without parameters: length regulation, dynamic convolution, alignment."""

from lipjax.ops.length_regulator import expand, length_regulate, LengthRegulation

__all__ = ["expand", "length_regulate", "LengthRegulation"]

"""lipjax: pure-functional JAX talking-face generation (ParaLip text-to-lip, DCK lip sync).

Public API (see README.md for a tour):
  lipjax.ops        length_regulate, expand, dynamic_conv
  lipjax.losses     l1_loss, duration_loss, ssim_loss, lsgan_generator_loss, ...
  lipjax.metrics    psnr, ssim, landmark_distance
  lipjax.errors     LipjaxError and its subclasses
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Submodules are imported on first attribute access so that `import lipjax` stays cheap
# (tensorflow-datasets and OpenCV are only loaded by the modules that need them).
_SUBMODULES = (
    "errors", "ops", "losses", "metrics", "text", "audio", "video", "face",
    "models", "data", "train", "inference", "convert", "cli",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"lipjax.{name}")
    raise AttributeError(f"module 'lipjax' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))

"""The same networks in PyTorch and in lipjax, with identical weights, for the speed benchmarks.

The PyTorch modules are the ones the importer tests check lipjax against
(`tests/convert/_torch_paralip.py`, `_torch_wav2lip.py`: the published layouts and arithmetic);
they get random weights and BatchNorm statistics (the tests' `randomize` / `randomise`), are
saved as the releases save them, and go through lipjax's real importers (`load_paralip`,
`load_wav2lip`). Speed does not depend on the values; the random statistics make every folded
BatchNorm matter. Needs the repository checkout (the tests package) and torch.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["Pair", "paralip_pair", "wav2lip_pair", "dck_paper_model", "small_dck_config"]


class Pair(NamedTuple):
    torch_model: Any     # eval mode
    config: Any          # lipjax training config (ml_collections)
    variables: Any       # lipjax {"params", "batch_stats"}


def paralip_pair(*, frames_per_token: float, seed: int = 0) -> Pair:
    """The official ParaLip generator (GRID, 32 tokens); its duration predictor is biased to
    about `frames_per_token` frames per token, so that predicted videos have a chosen length."""
    from lipjax.convert.paralip import load_paralip
    from tests.convert._torch_paralip import OfficialParaLip
    from tests.convert.test_paralip import randomize, save_official

    model = randomize(OfficialParaLip(32), seed=seed,
                      duration_bias=math.log(1.0 + frames_per_token))
    with tempfile.TemporaryDirectory(prefix="lipjax-bench-") as folder:
        path = save_official(model, Path(folder) / "model_ckpt_steps_1.ckpt")
        config, variables = load_paralip(path)
    return Pair(model, config, variables)


def wav2lip_pair(seed: int = 0) -> Pair:
    """Wav2Lip's generator (36.3 M parameters), calibrated random weights (`randomise`)."""
    import torch

    from lipjax.convert.wav2lip import load_wav2lip
    from tests.convert._torch_wav2lip import TorchWav2Lip, randomise, save_published

    g = torch.Generator().manual_seed(seed)
    model = randomise(TorchWav2Lip(), seed, torch.rand(4, 1, 80, 16, generator=g) * 8 - 4,
                      torch.rand(4, 6, 96, 96, generator=g))
    with tempfile.TemporaryDirectory(prefix="lipjax-bench-") as folder:
        config, variables = load_wav2lip(save_published(model, Path(folder) / "wav2lip.pth"))
    return Pair(model, config, variables)


def small_dck_config() -> Any:
    """A 64x64 DCK generator of a few thousand parameters (smoke runs, `talk` at small sizes)."""
    from lipjax.dck.model import DCKConfig
    from lipjax.nn.audio_encoder import ConvBlockSpec

    return DCKConfig(image_size=64, down_channels=(8, 16, 16, 16, 16),
                     up_channels=(16, 16, 16, 8, 8), middle_channels=16,
                     audio_blocks=(ConvBlockSpec(8, 3, (3, 1), 1, False),
                                   ConvBlockSpec(8, 3, (3, 3), 1, False),
                                   ConvBlockSpec(16, 3, (3, 2), 1, False),
                                   ConvBlockSpec(32, 3, (1, 1), 0, False)),
                     audio_feature_dim=32, kernel_generator_hidden=(32,))


def dck_paper_model(seed: int = 0, config: Any = None, **overrides: Any) -> tuple[Any, Any]:
    """The DCK generator at the paper's sizes (256x256, `DCKConfig(**overrides)`) or of
    `config`: `(module, variables)` with random weights and BatchNorm statistics."""
    import jax
    import numpy as np

    from lipjax.dck.model import DCKConfig, DCKGenerator

    config = config or DCKConfig(**overrides)
    module = DCKGenerator(config)
    size = config.image_size
    init = jax.jit(lambda key: module.init(key, np.zeros((1, size, size, 3), np.float32),
                                           np.zeros((1, 80, 16), np.float32)))
    variables = init(jax.random.key(seed))
    rng = np.random.default_rng(seed)
    stats = jax.tree_util.tree_map_with_path(
        lambda path, a: rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
        if "var" in jax.tree_util.keystr(path) else rng.normal(0, 0.1, a.shape).astype(np.float32),
        variables["batch_stats"])
    return module, {"params": variables["params"], "batch_stats": stats}

"""ParaLip's autoregressive baselines (Liu et al., AAAI 2022, Sec. 4.2, Tables 1, 3, 5).

  transformer_t2l  `TransformerT2L`: an autoregressive transformer decoder (key/value cache)
  duallip          `DualLip`'s text-to-lip model: LSTMs with location-sensitive attention
  autoregressive   what both share: teacher forcing, stop tokens, `autoregressive_decode`
  system           `TransformerT2LSystem`, `DualLipSystem` (teacher-forced training,
                   free-running evaluation)

Both reuse ParaLip's text encoder and image networks (`lipjax.paralip.model`), so the paper's
comparisons differ only in the sequence model.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "transformer_t2l": ["TransformerT2L", "TransformerT2LConfig"],
    "duallip": ["DualLip", "DualLipConfig"],
    "autoregressive": ["AutoregressiveOutput", "autoregressive_decode"],
    "system": ["AutoregressiveSystem", "TransformerT2LSystem", "DualLipSystem",
               "stop_token_loss"],
})

"""Flax building blocks shared by several systems.

  transformer     positions, multi-head self-attention, the FFT layer (ParaLip, baselines)
  conv            conv / transposed conv + BatchNorm + activation with PyTorch semantics
  fold            inference BatchNorm folded into the preceding convolution
  audio_encoder   Wav2Lip's audio encoder (80 x 16 mel window -> 512-vector) and its blocks
  discriminators  ParaLip's Table 7 frame discriminator (= Wav2Lip's visual-quality one on
                  80x160 frames), the DCK patch discriminator
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "transformer": ["FFTLayer", "MultiHeadSelfAttention", "ConvFeedForward",
                    "positions_from_mask", "sinusoidal_positions", "zero_padded_rows"],
    "conv": ["ConvNormAct", "ConvTransposeNormAct", "PhaseConvTranspose", "SameConvTranspose",
             "channels_first_flatten", "channels_first_unflatten"],
    "fold": ["fold_batch_norm", "fold_conv_norm"],
    "audio_encoder": ["AudioEncoder", "ConvBlockSpec", "ConvNormBlock"],
    "discriminators": ["FrameDiscriminator", "FrameDiscriminatorConfig", "DCKDiscriminator",
                       "DCKDiscriminatorConfig", "WAV2LIP_QUALITY_CONFIG"],
})

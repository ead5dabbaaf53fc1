"""ParaLip: parallel text-to-lip generation (Liu et al., AAAI 2022).

  model     `ParaLip` and its parts (text encoder, duration predictor, length regulation,
            motion decoder), `ParaLipConfig`
  image     the identity encoder and per-frame video decoder (shared with the baselines)
  system    `ParaLipSystem`: L1 + duration + SSIM + LSGAN training, PSNR / SSIM / LMD evaluation
  generate  `LipGenerator` / `generate_lips`: bucketed, jitted inference from a workdir
  cli       `lipjax lip`
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["ParaLip", "ParaLipConfig", "ParaLipOutput", "TextEncoder", "DurationPredictor",
              "MotionDecoder", "durations_from_log", "to_unit_range"],
    "image": ["IdentityEncoder", "VideoDecoder"],
    "system": ["ParaLipSystem", "model_config", "discriminator_config"],
    "generate": ["LipGenerator", "generate_lips", "DEFAULT_TOKEN_BUCKETS",
                 "DEFAULT_FRAME_BUCKETS"],
})

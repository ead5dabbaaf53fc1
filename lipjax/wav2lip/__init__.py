"""Wav2Lip (Prajwal et al., ACM MM 2020): the talking-face generator and its lip-sync expert.

  model   `Wav2LipGenerator`, `SyncNetColor` (the expert), their block tables, the input
          conventions (`generator_input`, `sync_face_input`, `lower_half`) and
          `sync_similarity`
  system     `Wav2LipSystem`, `SyncNetColorSystem`: what `restore_generator` needs of an
             imported checkpoint (`lipjax convert wav2lip`); the training systems come later
  generator  `Wav2LipFaceEditor`: the generator behind `lipjax talk`, with Wav2Lip's
             inference conventions (BGR, lower half masked, pads, smoothing, mel windows)

The visual-quality discriminator is `lipjax.nn.FrameDiscriminator` with
`lipjax.nn.discriminators.WAV2LIP_QUALITY_CONFIG`.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["Wav2LipGenerator", "Wav2LipConfig", "SyncNetColor", "SyncEmbeddings",
              "generator_input", "sync_face_input", "lower_half", "sync_similarity"],
    "system": ["Wav2LipSystem", "SyncNetColorSystem", "model_config", "discriminator_config"],
    "generator": ["Wav2LipFaceEditor", "WAV2LIP_FACE_BOXES", "wav2lip_mel_windows"],
})

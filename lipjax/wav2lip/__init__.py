"""Wav2Lip (Prajwal et al., ACM MM 2020): the talking-face generator and its lip-sync expert.

  model          `Wav2LipGenerator`, `SyncNetColor` (the expert), their block tables, the input
                 conventions (`generator_input`, `sync_face_input`, `lower_half`) and
                 `sync_similarity`
  data           the training examples of both: 5-frame windows of the clips of
                 `synthetic_talking_faces` records (`lipjax.data.clip_windows`)
  expert_system  `SyncNetColorSystem`: the expert as a trainable `System` (BCE on in-sync /
                 off-sync windows); the class of trained and converted expert workdirs
  system         `Wav2LipSystem`: the generator as a trainable `System` (L1 + the frozen
                 expert's sync loss + the BCE quality GAN)
  settings       the config sections both read
  sync           `SyncNetColorSync`: the expert as the network of `lip_sync_error` (LSE-D /
                 LSE-C, `lipjax evaluate-sync --syncnet <expert workdir or lipsync_expert.pth>`)
  generator      `Wav2LipFaceEditor`: the generator behind `lipjax talk`, with Wav2Lip's
                 inference conventions (BGR, lower half masked, pads, smoothing, mel windows)

The visual-quality discriminator is `lipjax.nn.FrameDiscriminator` with
`lipjax.nn.discriminators.WAV2LIP_QUALITY_CONFIG`.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["Wav2LipGenerator", "Wav2LipConfig", "SyncNetColor", "SyncEmbeddings",
              "generator_input", "sync_face_input", "lower_half", "sync_similarity"],
    "data": ["expert_example", "wav2lip_example"],
    "expert_system": ["SyncNetColorSystem", "expert_similarity"],
    "system": ["Wav2LipSystem", "FrozenExpert", "load_expert"],
    "settings": ["model_config", "discriminator_config"],
    "sync": ["SyncNetColorSync"],
    "generator": ["Wav2LipFaceEditor", "WAV2LIP_FACE_BOXES", "wav2lip_mel_windows"],
})

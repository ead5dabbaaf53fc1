"""The DCK talking face (Ye et al., "Audio-driven talking face video generation with dynamic
convolution kernels", IEEE TMM 2022): a face video + audio -> the same video, lip-synced.

  model      `DCKGenerator`: a U-Net whose middle layers use convolution kernels predicted per
             frame from the audio, with attention-mask blending; `DCKConfig`
  system     `DCKSystem`: both directions of a talking-face pair, L_adv + 10 L1
  generator  `TalkingFaceGenerator`: the trained generator with its audio front end, jitted
  pretrained_audio  the audio encoder from a Wav2Lip generator or lip-sync expert checkpoint,
             frozen as in the paper (`config.pretrained_audio`; `audio_encoder_blocks`)

`lipjax talk` runs it through `lipjax.lipsync` (shared with Wav2Lip); pair building for
training lives in `lipjax.data.pairs`.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["DCKGenerator", "DCKConfig", "DCKOutput", "blend"],
    "system": ["DCKSystem", "model_config", "discriminator_config", "mel_config"],
    "generator": ["TalkingFaceGenerator", "dck_model_config", "DCK_FACE_BOXES"],
    "pretrained_audio": ["audio_encoder_blocks", "load_pretrained_audio", "PretrainedAudio"],
})

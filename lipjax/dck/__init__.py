"""The DCK talking face (Ye et al., "Audio-driven talking face video generation with dynamic
convolution kernels", IEEE TMM 2022): a face video + audio -> the same video, lip-synced.

  model      `DCKGenerator`: a U-Net whose middle layers use convolution kernels predicted per
             frame from the audio, with attention-mask blending; `DCKConfig`
  system     `DCKSystem`: both directions of a talking-face pair, L_adv + 10 L1
  generator  `TalkingFaceGenerator`: the trained generator with its audio front end, jitted
  pipeline   `talk` / `lip_sync` / `track_faces`: detection, crops, paste-back, mp4 + audio
  cli        `lipjax talk`

Pair building for training lives in `lipjax.data.pairs`.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["DCKGenerator", "DCKConfig", "DCKOutput", "blend"],
    "system": ["DCKSystem", "model_config", "discriminator_config", "mel_config"],
    "generator": ["TalkingFaceGenerator", "dck_model_config"],
    "pipeline": ["talk", "lip_sync", "track_faces", "TalkReport", "output_frame_count",
                 "ping_pong_indices", "pad_boxes", "DEFAULT_BOX_PADDING"],
})

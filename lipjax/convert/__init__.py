"""Importers of published PyTorch checkpoints (torch is optional: `pip install 'lipjax[torch]'`).

  load_paralip(path, vocabulary=None)  the official ParaLip release (Lightning .ckpt or its folder)
  load_wav2lip(path)                   Wav2Lip's wav2lip.pth / wav2lip_gan.pth generator
  load_wav2lip_discriminator(path)     Wav2Lip's visual-quality discriminator (in wav2lip_gan
                                       training checkpoints of the discriminator)
  load_syncnet_color(path)             Wav2Lip's lip-sync expert, lipsync_expert.pth
  load_syncnet_v2(path)                syncnet_python's syncnet_v2.model (LSE-C / LSE-D)

Each returns `(config, variables)`: a training config of the lipjax system (the published
sizes) and Flax variables that reproduce the PyTorch outputs. `convert_*` write them as a
workdir (`lipjax convert ...`). `torch_io` holds the safe reader and the tensor mapping.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "paralip": ["load_paralip", "convert_paralip"],
    "wav2lip": ["load_wav2lip", "load_wav2lip_discriminator", "load_syncnet_color",
                "convert_wav2lip"],
    "syncnet": ["load_syncnet_v2", "convert_syncnet"],
    "torch_io": ["read_state_dict", "TensorSpec", "Layout"],
    "workdir": ["write_converted_workdir"],
})

"""lipjax: pure-functional JAX talking-face generation.

Systems (one package each, on a shared core; docs/ARCHITECTURE.md):
  lipjax.paralip     ParaLip text-to-lip (Liu et al., AAAI 2022): `ParaLipSystem`, `LipGenerator`
  lipjax.baselines   its autoregressive baselines: `TransformerT2LSystem`, `DualLipSystem`
  lipjax.dck         DCK lip sync (IEEE TMM 2022): `DCKSystem`, `TalkingFaceGenerator`
  lipjax.wav2lip     Wav2Lip (ACM MM 2020): `Wav2LipSystem`, its lip-sync expert
                     `SyncNetColorSystem`, `Wav2LipFaceEditor`
  lipjax.lipreading  a CTC lipreader and MAS durations without audio (ParaLip Sec. 6):
                     `LipreaderSystem`
  lipjax.lipsync     the `talk` pipeline any face editor (DCK, Wav2Lip) runs in
  lipjax.syncnet     syncnet_python's SyncNet, the network behind LSE-C / LSE-D
  lipjax.convert     importers of published PyTorch checkpoints
  lipjax.landmarks   mouth-landmark regressor for the LMD metric

Shared core:
  lipjax.ops         length regulation, dynamic / transposed convolution, alignment search
  lipjax.nn          Flax blocks: FFT layer, conv blocks, audio encoder, discriminators
  lipjax.losses      L1, duration, SSIM, LSGAN        lipjax.metrics  PSNR, SSIM, LMD
  lipjax.training    System protocol, train_and_evaluate, checkpoints, restore_generator
  lipjax.data        synthetic corpora, tfds builders, the input pipeline
  lipjax.text, audio, video, face, errors, overrides, files

The most used entry points are also here: `lipjax.train_and_evaluate`, `lipjax.load_config`,
`lipjax.evaluate_workdir`, `lipjax.restore_generator`, `lipjax.LipGenerator`,
`lipjax.generate_lips`, `lipjax.TalkingFaceGenerator`, `lipjax.talk`. Everything is imported
on first use, so `import lipjax` is cheap.
"""

from lipjax._lazy import attach

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = attach(__name__, {
    "training.loop": ["train_and_evaluate"],
    "training.config": ["load_config"],
    "training.evaluation": ["evaluate_workdir"],
    "training.workdir": ["restore_generator"],
    "paralip.system": ["ParaLipSystem"],
    "paralip.generate": ["LipGenerator", "generate_lips"],
    "baselines.system": ["TransformerT2LSystem", "DualLipSystem"],
    "dck.system": ["DCKSystem"],
    "dck.generator": ["TalkingFaceGenerator"],
    "wav2lip.system": ["Wav2LipSystem"],
    "wav2lip.expert_system": ["SyncNetColorSystem"],
    "lipreading.system": ["LipreaderSystem"],
    "lipsync.pipeline": ["talk"],
}, submodules=("errors", "ops", "nn", "losses", "metrics", "text", "audio", "video", "face",
               "overrides", "files", "training", "data", "landmarks", "paralip", "baselines",
               "dck", "wav2lip", "lipreading", "lipsync", "syncnet",
               "convert", "cli"))

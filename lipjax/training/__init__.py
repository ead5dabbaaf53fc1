"""The shared training core: every system trains, evaluates, checkpoints and restores here.

  system      the `System` protocol (what a system provides), `system_class` / `make_system`
              (a config names its system by import path), `LossTerm`, `DiscriminatorInputs`
  state       `TrainState` / `ModelState` (parameters, BatchNorm statistics, optimiser states)
  steps       the per-device `train_step` (generator + LSGAN discriminator, non-finite guard,
              exact cross-device loss normalisation) and `eval_step`
  parallel    `DataParallel`: the one place steps are mapped over devices (pmap / shard_map)
  checkpoint  `Checkpointer` (orbax; restores the full state, or the generator alone)
  loop        `train_and_evaluate(config, workdir)`
  evaluation  `evaluate` over a split, `evaluate_workdir`
  workdir     the workdir layout, `restore_generator(workdir)` for inference
  config      `load_config(path, overrides)`, `validate_config`

See docs/ARCHITECTURE.md for the data flow and how to add a system.
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "system": ["System", "LossTerm", "DiscriminatorInputs", "SYSTEM_ALIASES", "system_class",
               "system_path", "make_system", "dataclass_from_config", "evaluation_landmark_fn"],
    "state": ["TrainState", "ModelState", "make_optimizer", "learning_rate_schedule",
              "count_params", "init_state", "make_rng"],
    "steps": ["train_step", "eval_step"],
    "parallel": ["DataParallel", "RecompileError"],
    "checkpoint": ["Checkpointer"],
    "loop": ["train_and_evaluate"],
    "metric_writer": ["MetricWriter"],
    "previews": ["PreviewMaker"],
    "evaluation": ["evaluate", "evaluate_workdir"],
    "workdir": ["RestoredGenerator", "restore_generator", "read_config", "write_config",
                "has_checkpoint", "check_resume"],
    "config": ["load_config", "validate_config", "PARALLEL_KINDS"],
})

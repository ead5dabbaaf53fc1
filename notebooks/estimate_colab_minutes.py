"""Estimates how long each notebook's model work takes on a free Colab GPU (NVIDIA T4), from the
FLOPs XLA counts in its compiled steps. Estimates, not measurements.

    JAX_PLATFORMS=cpu python notebooks/estimate_colab_minutes.py --data_dir DIR \
        --out notebooks/colab_estimates.json

FLOPs per step come from `jax.jit(step).lower(...).compile().cost_analysis()` of the shared
training step (`lipjax.training.steps.train_step`, the generator + discriminator updates) at the
notebooks' full (non-tiny) settings, for one batch padded to each of the config's buckets, and
of the Wav2Lip generator for `talk`. Time = FLOPs / (T4 fp32 peak x an assumed utilisation).
Corpus building, compilation, evaluation and video I/O are not included. `--data_dir` holds the
`tiny` synthetic corpora (built if missing): their records are padded to the real buckets, so
only the shapes matter.
"""

from __future__ import annotations

import argparse
import functools
import os

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

T4_PEAK_FLOPS = 8.1e12  # NVIDIA T4, fp32 (datasheet)
UTILISATION = 0.3  # assumed fraction of peak reached by these conv / attention steps
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "experiments", "configs")
# (notebook, config, overrides, corpus of the stand-in records, steps the notebook runs)
TRAINING = [
    ("quickstart", "paralip_synthetic", [], "synthetic_lips", 2000),
    ("quickstart", "dck_synthetic", [], "synthetic_talking_faces", 400),
    ("train_grid_tpu", "paralip_grid", [], "synthetic_lips", 110_000),
]
TALK_SECONDS, TALK_FPS, TALK_BATCH = 3.0, 25.0, 16  # bring_your_own_weights: 3 s of speech


def flops(compiled) -> float:
    """Total FLOPs of a compiled computation (cost_analysis is a dict, or a list of them)."""
    analysis = compiled.cost_analysis()
    analyses = analysis if isinstance(analysis, (list, tuple)) else [analysis]
    return float(sum(a.get("flops", 0.0) for a in analyses))


def _batch(system, record, bucket, batch_size):
    """`batch_size` copies of one record padded to `bucket`, as the pipeline stacks them."""
    max_tokens, max_frames = bucket
    example = system.example_fn(record, max_tokens=max_tokens, max_frames=max_frames,
                                rng=np.random.default_rng(0), training=True)
    batch = {k: np.stack([np.asarray(v)] * batch_size) for k, v in example.items()}
    batch["example_mask"] = np.ones(batch_size, bool)  # what the pipeline's batcher adds
    batch["index"] = np.arange(batch_size, dtype=np.int32)
    return batch


def train_step_flops(config, record) -> dict[str, float]:
    """FLOPs of one training step per bucket of `config` (global batch, one device)."""
    from lipjax.training.evaluation import config_buckets
    from lipjax.training.state import init_state, make_rng
    from lipjax.training.steps import train_step
    from lipjax.training.system import make_system

    system = make_system(config)
    buckets = config_buckets(config)
    state, _ = init_state(system, config, system.example_batch(buckets[0]), make_rng(config))
    mesh = Mesh(np.asarray(jax.devices()[:1]), ("data",))
    step = jax.jit(jax.shard_map(functools.partial(train_step, system=system, axis_name="data"),
                                 mesh=mesh, in_specs=(P(), P("data"), P()), out_specs=P(),
                                 check_vma=False))
    result = {}
    for bucket in buckets:
        batch = _batch(system, record, bucket, int(config.data.batch_size))
        result[str(bucket)] = flops(step.lower(state, batch, jax.random.key(0)).compile())
    return result


def wav2lip_flops_per_frame() -> float:
    """FLOPs of Wav2Lip's generator per face crop (a batch of TALK_BATCH, divided)."""
    import jax.numpy as jnp

    from lipjax.convert.wav2lip import wav2lip_config
    from lipjax.wav2lip.system import Wav2LipSystem

    module = Wav2LipSystem.generator_from_config(wav2lip_config())
    faces, mels = jnp.zeros((TALK_BATCH, 96, 96, 6)), jnp.zeros((TALK_BATCH, 80, 16))
    variables = jax.eval_shape(module.init, jax.random.key(0), faces, mels)
    apply = jax.jit(functools.partial(module.apply, train=False))
    return flops(apply.lower(variables, faces, mels).compile()) / TALK_BATCH


def minutes(total_flops: float) -> float:
    return total_flops / (T4_PEAK_FLOPS * UTILISATION) / 60.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True, help="where the tiny corpora are (built)")
    parser.add_argument("--out", default=os.path.join(REPO, "notebooks", "colab_estimates.json"))
    args = parser.parse_args(argv)
    from lipjax.data.builders import build_dataset, load_split
    from lipjax.files import write_json
    from lipjax.training.config import load_config

    report = {"t4_peak_flops": T4_PEAK_FLOPS, "assumed_utilisation": UTILISATION,
              "excluded": "corpus building, compilation, evaluation, video I/O", "jobs": []}
    for notebook, name, overrides, corpus, steps in TRAINING:
        build_dataset(corpus, data_dir=args.data_dir, config="tiny", progress=False)
        record = load_split(corpus, "train", data_dir=args.data_dir, config="tiny")[0]
        config = load_config(os.path.join(CONFIGS, f"{name}.py"), overrides)
        per_bucket = train_step_flops(config, record)
        report["jobs"].append({
            "notebook": notebook, "config": name, "steps": steps,
            "batch_size": int(config.data.batch_size), "flops_per_step": per_bucket,
            "t4_minutes": {b: round(minutes(f * steps), 1) for b, f in per_bucket.items()}})
        print(report["jobs"][-1], flush=True)
    per_frame = wav2lip_flops_per_frame()
    frames = TALK_SECONDS * TALK_FPS
    report["jobs"].append({"notebook": "bring_your_own_weights", "model": "wav2lip generator",
                           "frames": frames, "flops_per_frame": per_frame,
                           "t4_minutes": round(minutes(per_frame * frames), 3)})
    print(report["jobs"][-1])
    write_json(args.out, report, indent=1)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Why ParaLip's LSGAN term collapsed training, measured; and whether the papers' full losses
train stably once the cause is fixed (issue 16, item 4).

    python experiments/gan_diagnostics.py --out benchmarks/results --steps 300

What it measures, with the shared training step (`lipjax.training.steps.train_step`) on
`synthetic_lips` and the `paralip_synthetic` config at the paper's weights (L1 + duration + SSIM
+ 5 LSGAN, Adam 1e-3 generator / 1e-4 discriminator):

1. The LSGAN losses against ParaLip Eq. 6-7 and DCK Eq. 4: values against NumPy, and the sign
   of every gradient (real scores pulled to 1, fake to 0; the generator pulls fake to 1).
2. Every `--every` steps of each variant's run: each loss term's gradient norm (weighted) at the
   generator's last two layers and over all its parameters; the discriminator's mean score on
   real and generated frames; the range of the frames each side gets (below 0, above 1); the
   losses and the discriminator's loss.

Variants (`--variants`): `paper` (the term from step 0, as the paper trains), `warmup` (the term
from `--adv_start`, the discriminator training from step 0, as the 1.0.0 quality tables ran),
`no_adv` (the same without the term, for reference), and `raw_tanh_*` (the discriminator fed the
generator's unclipped tanh output, as before the first fix, so that the cause can be shown),
`unbounded_paper` (`paper` with unbounded scores instead of probabilities) and
`flax_init_paper` (unbounded scores and the discriminator initialised by flax's default
instead of PyTorch's: the setup before the second and third fixes).

Each run ends with an evaluation on the test split (PSNR, SSIM and, with
`--set evaluation.landmark_regressor=DIR`, LMD; ground-truth and predicted durations). Writes
`gan_diagnostics.json` (every number, the command; rewritten after every row) and
`gan_diagnostics.png` (curves) to --out. Not run by the tests (minutes per variant on a CPU).
Smaller networks, for a shared CPU, are overrides, e.g. `--set train.frames_per_example=4
--set "discriminator.channels=(4, 8, 8, 16, 16, 32, 32, 64, 64, 64, 64, 64, 64)"`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from tqdm import tqdm

from lipjax import files
from lipjax.data.builders import load_source
from lipjax.data.pipeline import Pipeline
from lipjax.losses import LSGAN
from lipjax.paralip.system import ParaLipSystem
from lipjax.training import steps
from lipjax.training.config import load_config
from lipjax.training.evaluation import config_buckets, evaluate
from lipjax.training.parallel import DataParallel
from lipjax.training.state import init_state, make_rng
from lipjax.training.system import DiscriminatorInputs, make_system

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "benchmarks/results", "Where gan_diagnostics.{json,png} go.")
flags.DEFINE_string("config", "experiments/configs/paralip_synthetic.py", "The system's config.")
flags.DEFINE_multi_string("set", [], "Extra config override (key=value) for every variant.")
flags.DEFINE_string("data_dir", "data_cache", "Where synthetic_lips is (or will be) built.")
flags.DEFINE_integer("steps", 300, "Training steps of each variant.")
flags.DEFINE_integer("adv_start", 100, "First step of the LSGAN term in the `warmup` variants.")
flags.DEFINE_integer("every", 10, "Steps between diagnostics.")
flags.DEFINE_float("adv", 5.0, "Weight of the LSGAN term (ParaLip: 5).")
flags.DEFINE_list("variants", ["paper", "warmup", "no_adv"], "Variants to run, in order.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")

# ParaLip's video decoder: the 3-channel conv and the one before it.
LAST_LAYERS = ("dconv6", "dconv5")


class RawTanhParaLip(ParaLipSystem):
    """ParaLip as it was before the fix: the discriminator scores the generator's raw tanh output
    (values in [-1, 1]) against real frames in [0, 1]."""

    def discriminator_inputs(self, outputs, batch) -> DiscriminatorInputs:
        return DiscriminatorInputs(real=outputs.targets, fake=outputs.model.frames,
                                   mask=outputs.frame_mask)


# ------------------------------------------------------------------------------ 1. equations
def lsgan_equation_check(seed: int = 0) -> dict[str, Any]:
    """`lipjax.losses.LSGAN` against ParaLip Eq. 6-7 / DCK Eq. 4 in NumPy, and gradient signs."""
    rng = np.random.default_rng(seed)
    d_real, d_fake = rng.normal(0.5, 0.7, (2, 3, 5)).astype(np.float32)   # [frames, patches]
    mask = np.array([True, False, True])
    g_ref = float(np.mean(np.mean((d_fake - 1) ** 2, -1)[mask]))
    g = float(LSGAN.generator(d_fake, mask))
    d_ref = float(np.mean(np.mean((d_real - 1) ** 2, -1)[mask])
                  + np.mean(np.mean(d_fake ** 2, -1)[mask]))
    d = float(LSGAN.discriminator(d_real, d_fake, mask))
    grad_d_real, grad_d_fake = jax.grad(LSGAN.discriminator, argnums=(0, 1))(
        jnp.zeros((1, 4)), jnp.full((1, 4), 0.5), None)
    grad_g = jax.grad(LSGAN.generator)(jnp.full((1, 4), 0.5), None)
    return {
        "generator_eq6": {"lipjax": g, "numpy": g_ref},
        "discriminator_eq7": {"lipjax": d, "numpy": d_ref},
        # Descent moves a score against its gradient: real up (to 1), fake down (to 0) for D;
        # fake up (to 1) for G.
        "d_real_at_0_moves_up": bool(np.all(np.asarray(grad_d_real) < 0)),
        "d_fake_at_0.5_moves_down": bool(np.all(np.asarray(grad_d_fake) > 0)),
        "g_fake_at_0.5_moves_up": bool(np.all(np.asarray(grad_g) < 0)),
    }


# ---------------------------------------------------------------------------- 2. diagnostics
def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def _masked_fraction(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Fraction of the elements of the valid frames (`mask` [B, F]) where `values` is True."""
    per_frame = jnp.mean(values.reshape(mask.shape + (-1,)), axis=-1)
    return jnp.sum(per_frame * mask) / jnp.maximum(jnp.sum(mask), 1)


def _generator_terms(system, state, batch, rng, params):
    """(outputs, {term: weighted value}) of the generator with `params`, the adversarial term
    at its full weight against the current discriminator."""
    gen, disc = state.generator, state.discriminator
    variables = {"params": params, **({"batch_stats": gen.batch_stats}
                                      if gen.batch_stats else {})}
    outputs, _ = system.generate(variables, batch, train=True,
                                 rngs={"dropout": rng, "sample": rng})
    values = {name: t.value for name, t in system.reconstruction_terms(outputs, batch).items()}
    if disc is not None:
        d_in = system.discriminator_inputs(outputs, batch)
        scores = system.discriminator.apply(disc.variables, d_in.fake, train=False)
        values[steps.ADV] = steps.adversarial_losses(system).generator(scores, d_in.mask)
    return outputs, {name: system.loss_weights[name] * v for name, v in values.items()}


def probe(state, batch, rng, *, system, axis_name: str = "data") -> dict[str, Any]:
    """Per-device diagnostics (run under the data axis, as the step):

    - `gradients`: weighted gradient norm of each loss term at the generator's last layers
      (`LAST_LAYERS`) and over all its parameters;
    - `view`: the discriminator's mean score on real and generated frames and the range of both
      inputs (fractions of values below 0 and above 1, over valid frames).
    """
    del axis_name  # the generator's BatchNorm reads it from its config
    params = state.generator.params
    outputs, values = _generator_terms(system, state, batch, rng, params)
    gradients = {}
    for name in values:
        grads = jax.grad(lambda p, n=name: _generator_terms(system, state, batch, rng, p)[1][n])(
            params)
        gradients[name] = {"all": _norm(grads), **{layer: _norm(grads["video_decoder"][layer])
                                                   for layer in LAST_LAYERS}}
    d_in = system.discriminator_inputs(outputs, batch)
    raw = outputs.model.frames
    view = {"fake_below_0": _masked_fraction(d_in.fake < 0, d_in.mask),
            "fake_above_1": _masked_fraction(d_in.fake > 1, d_in.mask),
            "real_below_0": _masked_fraction(d_in.real < 0, d_in.mask),
            "real_above_1": _masked_fraction(d_in.real > 1, d_in.mask),
            "generator_output_below_0": _masked_fraction(raw < 0, d_in.mask),
            "generator_output_min": jnp.min(jnp.where(d_in.mask[..., None, None, None], raw,
                                                      jnp.inf))}
    if state.discriminator is not None:
        n = jnp.maximum(jnp.sum(d_in.mask), 1)
        for side in ("real", "fake"):
            scores = system.discriminator.apply(state.discriminator.variables,
                                                getattr(d_in, side), train=False)
            per_frame = scores.reshape(d_in.mask.shape + (-1,)).mean(-1)
            view[f"d_{side}"] = jnp.sum(per_frame * d_in.mask) / n
    return {"gradients": gradients, "view": view}


# --------------------------------------------------------------------------------- 3. runs
@dataclasses.dataclass(frozen=True)
class Variant:
    """One diagnostic run: config overrides and how the system is built from the config."""

    overrides: tuple[str, ...]
    system_fn: Callable[[Any], Any] = make_system


def variants(adv: float, adv_start: int) -> dict[str, Variant]:
    raw = lambda c: RawTanhParaLip.from_config(c)  # noqa: E731
    on = (f"loss.adv={adv}",)
    return {
        "paper": Variant(on + ("loss.adv_start_step=0",)),
        "warmup": Variant(on + (f"loss.adv_start_step={adv_start}",)),
        "no_adv": Variant(("loss.adv=0",)),
        "raw_tanh_paper": Variant(on + ("loss.adv_start_step=0",), raw),
        "raw_tanh_warmup": Variant(on + (f"loss.adv_start_step={adv_start}",), raw),
        "unbounded_paper": Variant(on + ("loss.adv_start_step=0", "discriminator.sigmoid=False")),
        "flax_init_paper": Variant(on + ("loss.adv_start_step=0", "discriminator.sigmoid=False",
                                         "discriminator.pytorch_init=False")),
    }


def run_variant(name: str, variant: Variant, *, num_steps: int, every: int,
                progress: bool) -> Iterator[dict[str, Any]]:
    """Trains one variant with the shared step, yielding its diagnostic rows as they come."""
    overrides = [f"data.data_dir={FLAGS.data_dir}", "data.prefetch=0",
                 *FLAGS.set, *variant.overrides]
    config = load_config(FLAGS.config, overrides)
    system = variant.system_fn(config)
    buckets = config_buckets(config)
    pipeline = Pipeline(load_source(config.data, config.data.train_split),
                        batch_size=int(config.data.batch_size), buckets=buckets,
                        example_fn=system.example_fn, length_fn=system.length_fn,
                        training=True, seed=config.seed, prefetch=0)
    dp = DataParallel("pmap", devices=jax.local_devices()[:1])
    rng = make_rng(config)
    init_rng, step_rng = jax.random.split(rng)
    state, _ = init_state(system, config, system.example_batch(buckets[0]), init_rng)
    step_fn = dp.wrap(steps.train_step, static_kwargs={"system": system})
    probe_fn = dp.wrap(probe, static_kwargs={"system": system}, donate_state=False)
    replicated, window = dp.replicate(state), []
    start = time.perf_counter()
    for step in tqdm(range(num_steps), desc=name, disable=not progress):
        batch = next(pipeline)
        if step % every == 0 or step == num_steps - 1:
            found = jax.tree.map(lambda x: float(np.asarray(x).reshape(-1)[0]),
                                 probe_fn(replicated, dp.shard(batch), step_rng))
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1), **found}
            if window:
                row["train"] = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            yield row
            window = []
        replicated, metrics = step_fn(replicated, dp.shard(batch), step_rng)
        window.append({k: float(np.asarray(v).reshape(-1)[0]) for k, v in metrics.items()})
    pipeline.close()
    variables = dp.unreplicate(replicated).generator.variables
    yield {"step": num_steps, "seconds": round(time.perf_counter() - start, 1),
           "eval": evaluate(system, variables, load_source(config.data, config.data.eval_split),
                            config, dp=dp, progress=progress)}


# -------------------------------------------------------------------------------- 4. output
def plot(results: dict[str, list[dict]], path: str, adv_start: int) -> None:
    """One panel per diagnostic against the step, one line per variant (a PNG at `path`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("L1 (train)", lambda r: r.get("train", {}).get("loss/l1")),
              ("discriminator loss", lambda r: r.get("train", {}).get("loss/discriminator")),
              ("D(real) - D(fake)", lambda r: r["view"].get("d_real", np.nan)
               - r["view"].get("d_fake", np.nan)),
              ("|grad adv| / |grad L1|, last layer", lambda r: (
                  r["gradients"].get("adv", {}).get(LAST_LAYERS[0], np.nan)
                  / r["gradients"]["l1"][LAST_LAYERS[0]])),
              ("generator output < 0 (fraction)",
               lambda r: r["view"]["generator_output_below_0"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (title, get) in zip(axes, panels):
        for name, rows in results.items():
            rows = [r for r in rows if "view" in r]
            xs = [r["step"] for r in rows]
            ys = [get(r) for r in rows]
            ax.plot(xs, [np.nan if y is None else y for y in ys], label=name)
        if any("warmup" in name for name in results):   # where the term starts in those
            ax.axvline(adv_start, color="k", linestyle=":", linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[3].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    files.atomic_path(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    json_path = os.path.join(FLAGS.out, "gan_diagnostics.json")
    table = variants(FLAGS.adv, FLAGS.adv_start)
    unknown = [v for v in FLAGS.variants if v not in table]
    if unknown:
        raise app.UsageError(f"unknown variants {unknown}; choose from {sorted(table)}")
    report = {"command": "python " + " ".join(sys.argv), "config": FLAGS.config,
              "overrides": FLAGS.set, "steps": FLAGS.steps, "adv_start": FLAGS.adv_start,
              "adv_weight": FLAGS.adv, "equations": lsgan_equation_check(), "runs": {}}
    for name in FLAGS.variants:   # written after every row: a stopped run keeps its rows
        report["runs"][name] = []
        for row in run_variant(name, table[name], num_steps=FLAGS.steps, every=FLAGS.every,
                               progress=FLAGS.progress):
            report["runs"][name].append(row)
            files.write_json(json_path, report)
        plot(report["runs"], os.path.join(FLAGS.out, "gan_diagnostics.png"), FLAGS.adv_start)


if __name__ == "__main__":
    app.run(main)

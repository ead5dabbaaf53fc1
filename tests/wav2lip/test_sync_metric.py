"""A trained lip-sync expert proves the LSE metric: Wav2Lip's expert (SyncNetColorSystem), trained
here on `synthetic_talking_faces`, as the network of `lipjax.metrics.
lip_sync_error`, measured on held-out test clips (sentences never seen in training):

* LSE-D is lower and LSE-C higher with a clip's own audio than with its audio shifted by 10
  frames either way;
* the AV offset reported for a clip whose audio is shifted by k frames (`shift_audio`; k > 0:
  the audio leads, the sign convention of `lipjax.metrics.sync`) is k within one frame, for
  k = -8 .. 8;
* a resumed expert run equals an uninterrupted one.

The expert is trained once per session (module fixture, cached under pytest's tmp dir): the
`wav2lip_expert_synthetic` config (its corpus, 96 x 128 frames, built on the way) for 300 of its
600 steps, a few minutes on 2 cores (BUILD_NOTES.md, "The expert as the sync network", has the
numbers of both)."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from lipjax.data.builders import load_source
from lipjax.metrics.sync import lip_sync_error, shift_audio
from lipjax.training.config import load_config
from lipjax.training.loop import train_and_evaluate
from lipjax.training.workdir import restore_generator
from lipjax.wav2lip import SyncNetColorSystem
from lipjax.wav2lip.sync import FPS, SAMPLE_RATE, record_clip
from tests._paths import CONFIGS

pytestmark = pytest.mark.slow

STEPS = 300                     # half the config's 600: accuracy 0.85 instead of 0.92
MARGIN = 10                     # frames cut at each end of a clip: the largest shift
SHIFTS = range(-8, 9)


def _config(data_dir: str, num_steps: int, **train):
    """The config's expert and corpus (built into data_dir), `num_steps` steps."""
    config = load_config(os.path.join(CONFIGS, "wav2lip_expert_synthetic.py"), [
        f"data.data_dir={data_dir}", f"train.num_steps={num_steps}", "data.prefetch=0",
        f"train.eval_every={STEPS}", f"train.checkpoint_every={STEPS}", "train.log_every=50",
        "train.tensorboard=False"])
    config.train.update(train)
    return config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("talking_faces"))


@pytest.fixture(scope="module")
def expert(tmp_path_factory, data_dir):
    """`(workdir, training result)` of the small expert."""
    workdir = str(tmp_path_factory.mktemp("sync_expert"))
    return workdir, train_and_evaluate(_config(data_dir, STEPS), workdir, progress=False)


@pytest.fixture(scope="module")
def scores(expert):
    """`{shift: [LipSyncResult per held-out clip]}` for shifts -10 .. 10 of every test clip."""
    workdir, _ = expert
    restored = restore_generator(workdir)
    network = SyncNetColorSystem.sync_network(restored, batch_size=64)
    test = load_source(restored.config.data, restored.config.data.eval_split)
    clips = [record_clip(test[i], tag) for i in range(len(test)) for tag in ("a", "b")]
    out = {}
    for shift in range(-MARGIN, MARGIN + 1):
        out[shift] = []
        for crops, wav in clips:
            frames, audio = shift_audio(crops, wav, shift, margin=MARGIN, fps=FPS,
                                        sample_rate=SAMPLE_RATE)
            out[shift].append(lip_sync_error(frames, audio, network, fps=FPS))
    return out


def test_the_expert_learned_to_tell_in_sync_from_off_sync(expert):
    _, result = expert
    assert result["final_step"] == STEPS
    evaluation = result["eval"]                     # held-out test pairs
    assert evaluation["accuracy/all"] > 0.75
    assert evaluation["similarity/in_sync"] > evaluation["similarity/off_sync"] + 0.3


def test_own_audio_scores_better_than_audio_shifted_by_10_frames(scores):
    synced = scores[0]
    for shift in (-10, 10):
        shifted = scores[shift]
        assert np.mean([r.lse_d for r in synced]) < np.mean([r.lse_d for r in shifted])
        assert np.mean([r.lse_c for r in synced]) > np.mean([r.lse_c for r in shifted])
        # Clip by clip too, for most clips.
        lower = np.mean([a.lse_d < b.lse_d for a, b in zip(synced, shifted)])
        assert lower >= 0.75, (shift, lower)


def test_the_offset_of_audio_shifted_by_k_frames_is_k(scores):
    offsets = np.asarray([[r.offset for r in scores[k]] for k in SHIFTS])   # [shift, clip]
    errors = np.abs(offsets - np.asarray(SHIFTS)[:, None])
    # Every shift's median over the clips is k within one frame, and nearly every clip is.
    assert np.all(np.abs(np.median(offsets, axis=1) - np.asarray(SHIFTS)) <= 1), offsets
    assert np.mean(errors <= 1) >= 0.9, offsets


def test_a_resumed_expert_run_equals_an_uninterrupted_one(data_dir, tmp_path):
    uninterrupted, resumed = str(tmp_path / "uninterrupted"), str(tmp_path / "resumed")
    train_and_evaluate(_config(data_dir, 4, max_eval_batches=1), uninterrupted, progress=False)
    for steps in (2, 4):
        train_and_evaluate(_config(data_dir, steps, max_eval_batches=1, checkpoint_every=2),
                           resumed, progress=False)
    a, b = restore_generator(uninterrupted), restore_generator(resumed)
    assert a.step == b.step == 4
    for x, y in zip(jax.tree.leaves(a.variables), jax.tree.leaves(b.variables)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)

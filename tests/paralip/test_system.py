"""`ParaLipSystem.discriminator_inputs`: the frame discriminator sees real and generated frames
in the same range, the generated ones as inference shows them (the cause of the LSGAN collapse,
BUILD_NOTES.md "Adversarial training")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.baselines.system import DualLipSystem, TransformerT2LSystem
from lipjax.paralip.model import ParaLipOutput, to_unit_range
from lipjax.paralip.system import ParaLipSystem, TrainOutput


def _outputs(frames, targets, mask):
    batch, count = mask.shape
    model = ParaLipOutput(frames=frames, log_durations=jnp.zeros((batch, 2)),
                          durations=jnp.ones((batch, 2), jnp.int32), frame_mask=mask,
                          overflow=jnp.zeros(batch, bool))
    return TrainOutput(model=model, targets=targets, frame_mask=mask)


@pytest.mark.parametrize("system", [ParaLipSystem, TransformerT2LSystem, DualLipSystem])
def test_generated_frames_reach_the_discriminator_as_inference_shows_them(system):
    rng = np.random.default_rng(0)
    targets = rng.uniform(0.0, 1.0, (2, 3, 4, 8, 3)).astype(np.float32)
    # A tanh output: the same frames, with excursions below 0 (and one up to 1) where the
    # target is dark or bright; inference clips them (`to_unit_range`).
    raw = targets.copy()
    raw[targets < 0.1] = -0.9
    raw[targets > 0.95] = 1.0
    mask = np.array([[True, True, False], [True, False, False]])
    d_in = system.discriminator_inputs(None, _outputs(jnp.asarray(raw), targets, mask), {})
    fake = np.asarray(d_in.fake)
    assert fake.min() >= 0.0 and fake.max() <= 1.0           # the range real frames have
    np.testing.assert_array_equal(fake, np.asarray(to_unit_range(raw)))
    np.testing.assert_array_equal(np.asarray(d_in.real), targets)
    np.testing.assert_array_equal(np.asarray(d_in.mask), mask)
    # Where the output is what inference shows (clipped excursions aside), real == fake: no
    # value tells them apart that the shown frames would not.
    same = (targets >= 0.1) & (targets <= 0.95)
    np.testing.assert_array_equal(fake[same], targets[same])


def test_no_adversarial_gradient_pushes_pixels_below_zero():
    """The generator's adversarial gradient is 0 on pixels already below 0 (clipped away), so it
    cannot drive them into tanh's saturated range; in range it passes unchanged."""
    raw = jnp.array([[[[[-0.5, 0.2, 0.7]]]]])                        # [1, 1, 1, 1, 3]
    mask = jnp.ones((1, 1), bool)

    def shown_sum(frames):
        d_in = ParaLipSystem.discriminator_inputs(None, _outputs(frames, frames, mask), {})
        return jnp.sum(d_in.fake)

    np.testing.assert_array_equal(np.asarray(jax.grad(shown_sum)(raw)).reshape(-1), [0, 1, 1])

"""Tests of the articulatory mouth model (lipjax.data.synthetic.mouth)."""

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.ndimage
from matplotlib.path import Path

from lipjax.data.synthetic import mouth, mouth_drawing, mouth_geometry
from lipjax.errors import InputError
from lipjax.text import GRID_CHARS, SIL

GRID_SYMBOLS = GRID_CHARS.symbols[1:]  # everything but padding
OPEN, WIDTH, ROUND, TEETH, TONGUE = range(5)


def target(symbol):
    return mouth.mouth_targets([symbol])[0]


def test_every_grid_symbol_has_a_class_and_a_target_in_range():
    assert set(mouth.SOUND_CLASSES) == set(GRID_SYMBOLS)
    assert set(mouth.SOUND_CLASSES.values()) == {
        "vowel", "fricative", "plosive", "nasal", "approximant", "silence"}
    targets = mouth.mouth_targets(list(GRID_SYMBOLS))
    assert targets.shape == (len(GRID_SYMBOLS), len(mouth.MOUTH_PARAMS))
    assert targets.dtype == np.float32
    assert (targets >= 0).all() and (targets <= 1).all()
    assert (mouth.mouth_dominance(list(GRID_SYMBOLS)) > 0).all()


def test_targets_are_phonetically_plausible():
    for closed in "mbp":
        assert target(closed)[OPEN] == 0.0
    assert target(SIL)[OPEN] == 0.0
    assert 0.0 < target(" ")[OPEN] < 0.3  # slight relaxation between words
    consonants = [c for c in GRID_SYMBOLS if mouth.SOUND_CLASSES[c] != "vowel"]
    assert all(target("a")[OPEN] > target(c)[OPEN] for c in consonants + list("eiou"))
    for rounded in "ouw":
        for spread in "ei":
            assert target(rounded)[ROUND] > target(spread)[ROUND]
            assert target(rounded)[WIDTH] < target(spread)[WIDTH]
    for labiodental in "fv":
        assert target(labiodental)[TEETH] == max(target(c)[TEETH] for c in GRID_SYMBOLS)
    vowels = [target(v)[TONGUE] for v in "aeiou"]
    for alveolar in "tdln":
        assert target(alveolar)[TONGUE] > max(vowels)


def test_piecewise_constant_without_coarticulation():
    symbols = [SIL, "b", "a", " ", "o", SIL]
    durations = np.array([3, 2, 4, 1, 3, 2])
    trajectory = mouth.mouth_trajectory(symbols, durations, coarticulation=0.0, smoothing=0.0)
    np.testing.assert_allclose(trajectory, np.repeat(mouth.mouth_targets(symbols), durations, 0))


def reference_trajectory(symbols, durations, coarticulation, smoothing):
    """Brute-force loops over frames and tokens of the dominance model."""
    targets = [mouth.MOUTH_TARGETS[s] for s in symbols]
    out = []
    start = 0
    bounds = []
    for d in durations:
        bounds.append((start, start + d))
        start += d
    for t in range(start):
        centre = t + 0.5
        total, weighted = 0.0, np.zeros(5)
        for (lo, hi), s, tgt in zip(bounds, symbols, targets):
            dist = lo - centre if centre < lo else (centre - hi if centre > hi else 0.0)
            w = mouth.DOMINANCE[s] * np.exp(-0.5 * (dist / coarticulation) ** 2)
            total += w
            weighted += w * np.asarray(tgt)
        out.append(weighted / total)
    out = np.asarray(out)
    if smoothing >= 1e-3:
        out = scipy.ndimage.gaussian_filter1d(out, smoothing, axis=0, mode="nearest")
    return out


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(
    st.lists(st.tuples(st.sampled_from(GRID_SYMBOLS), st.integers(0, 5)), min_size=1, max_size=12),
    st.floats(0.3, 3.0),
    st.floats(0.0, 2.0),
)
def test_trajectory_matches_brute_force(tokens, coarticulation, smoothing):
    symbols = [s for s, _ in tokens]
    durations = np.array([d for _, d in tokens])
    hypothesis.assume(durations.sum() > 0)
    trajectory = mouth.mouth_trajectory(symbols, durations, coarticulation=coarticulation,
                                        smoothing=smoothing)
    assert trajectory.shape == (durations.sum(), 5) and trajectory.dtype == np.float32
    np.testing.assert_allclose(
        trajectory, reference_trajectory(symbols, durations, coarticulation, smoothing), atol=1e-5)


def test_bilabial_closes_between_vowels_and_motion_is_smooth():
    symbols = [SIL, "a", "m", "a", SIL]
    durations = np.array([4, 5, 3, 5, 4])
    trajectory = mouth.mouth_trajectory(symbols, durations)
    assert trajectory[10, OPEN] < 0.2 * trajectory[6, OPEN]  # middle of 'm' vs middle of 'a'
    steps = np.abs(np.diff(trajectory, axis=0)).max()
    hard = np.abs(np.diff(mouth.mouth_trajectory(symbols, durations, coarticulation=0,
                                                  smoothing=0), axis=0)).max()
    assert steps < 0.6 * hard


def test_target_jitter_is_seeded_and_keeps_closures():
    symbols = [SIL, "b", "a", "p", SIL]
    durations = np.array([2, 2, 3, 2, 2])
    a = mouth.mouth_trajectory(symbols, durations, target_jitter=0.1, coarticulation=0,
                               smoothing=0, rng=np.random.default_rng(1))
    b = mouth.mouth_trajectory(symbols, durations, target_jitter=0.1, coarticulation=0,
                               smoothing=0, rng=np.random.default_rng(1))
    c = mouth.mouth_trajectory(symbols, durations, target_jitter=0.1, coarticulation=0,
                               smoothing=0, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a[[0, 1, 2, 3, 7, 8, 9, 10], OPEN] == 0).all()


@pytest.mark.parametrize("symbols, durations", [
    ("abc", [1, 1, 1]),              # a string, not a sequence of symbols
    (["a", "é"], [1, 1]),            # unknown symbol
    (["a", "b"], [1]),               # wrong length
    (["a", "b"], [1.0, 2.0]),        # not integers
    (["a", "b"], [0, 0]),            # empty video
    (["a", "b"], [-1, 3]),           # negative
])
def test_trajectory_rejects_bad_input(symbols, durations):
    with pytest.raises(InputError):
        mouth.mouth_trajectory(symbols, np.asarray(durations))


def test_trajectory_jitter_needs_rng():
    with pytest.raises(InputError, match="rng"):
        mouth.mouth_trajectory(["a"], np.array([2]), target_jitter=0.1)


def polygon_area(points):
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(st.lists(st.floats(0, 1), min_size=5, max_size=5), st.floats(-0.3, 0.3))
def test_landmarks_follow_dlib_order(params, angle):
    params = np.asarray(params)
    lm = mouth_geometry.mouth_landmarks(params, center=(80.0, 40.0), scale=40.0)
    assert lm.shape == (20, 2) and lm.dtype == np.float32
    outer, inner = lm[:12], lm[12:]
    assert outer[:, 0].argmin() == 0 and outer[:, 0].argmax() == 6  # corners 48 and 54
    assert (np.diff(outer[:7, 0]) > 0).all()  # 48 -> 54 along the upper lip, left to right
    assert (np.diff(outer[6:, 0]) < 0).all()  # 54 -> 59 along the lower lip, right to left
    assert (np.diff(inner[:5, 0]) > 0).all() and (np.diff(inner[4:, 0]) < 0).all()
    assert outer[3, 1] < outer[9, 1]  # 51 above 57
    assert inner[2, 1] <= inner[6, 1]  # 62 not below 66
    # The inner lip lies inside the outer lip; the opening height is max_opening * opening.
    assert Path(outer).contains_points(inner[[1, 2, 3, 5, 6, 7]], radius=1e-3).all()
    np.testing.assert_allclose(inner[6, 1] - inner[2, 1], 0.7 * params[0] * 40.0, atol=1e-3)
    # Rotation turns the whole shape about the centre.
    rotated = mouth_geometry.mouth_landmarks(params, center=(80.0, 40.0), scale=40.0, angle=angle)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(rotated, (lm - [80, 40]) @ rotation.T + [80, 40], atol=1e-3)


def test_landmarks_respond_to_width_rounding_and_broadcast():
    base = np.array([0.5, 0.5, 0.0, 0.0, 0.0])
    wide, rounded = base.copy(), base.copy()
    wide[WIDTH], rounded[ROUND] = 1.0, 1.0
    lm = mouth_geometry.mouth_landmarks(np.stack([base, wide, rounded]), center=(0.0, 0.0),
                                        scale=10.0)
    assert lm.shape == (3, 20, 2)
    corner_distance = lm[:, 6, 0] - lm[:, 0, 0]
    assert corner_distance[1] > corner_distance[0] > corner_distance[2]
    with pytest.raises(InputError):
        mouth_geometry.mouth_landmarks(np.zeros(4), center=(0.0, 0.0), scale=10.0)


SKIN = (200, 150, 130)


def render(params, style=mouth_drawing.MouthStyle(), supersample=4):
    canvas = np.empty((80, 160, 3), np.uint8)
    canvas[:] = SKIN
    lm = mouth_geometry.mouth_landmarks(params, center=(80.0, 38.0), scale=42.0,
                               upper_lip=style.upper_lip, lower_lip=style.lower_lip)
    return mouth_drawing.draw_mouth(canvas, lm, params, style, supersample=supersample), lm


def pixel_centres():
    ys, xs = np.mgrid[0:80, 0:160]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)


def test_drawn_pixels_agree_with_landmarks():
    style = mouth_drawing.MouthStyle()
    frame, lm = render(np.array([0.9, 0.6, 0.1, 0.0, 0.0]), style)
    points = pixel_centres()
    diff = np.abs(frame.reshape(-1, 3).astype(int) - SKIN).sum(1)
    outer, inner = Path(lm[:12]), Path(lm[12:])
    far_outside = ~outer.contains_points(points, radius=-6.0) & ~outer.contains_points(points,
                                                                                       radius=6.0)
    deep_inside_inner = inner.contains_points(points, radius=-2.0) & inner.contains_points(
        points, radius=2.0)
    assert deep_inside_inner.sum() > 100
    assert (diff[far_outside] == 0).all()  # the skin is untouched away from the mouth
    # Inside the inner contour: the dark interior (no teeth or tongue at teeth = tongue = 0).
    np.testing.assert_allclose(frame.reshape(-1, 3)[deep_inside_inner].mean(0), style.interior,
                               atol=12)
    # Changed area ~ area of the outer landmark polygon (the spline through it is close).
    changed = (diff > 0).sum()
    assert 0.85 < changed / polygon_area(lm[:12]) < 1.25
    # Anti-aliasing: edge pixels take intermediate values between skin and lip.
    assert len(np.unique(frame[..., 0])) > 20


def test_teeth_and_tongue_show_inside_the_opening():
    style = mouth_drawing.MouthStyle()
    teeth, lm = render(np.array([0.5, 0.7, 0.0, 1.0, 0.0]), style)
    tongue, _ = render(np.array([0.5, 0.7, 0.0, 0.0, 1.0]), style)
    plain, _ = render(np.array([0.5, 0.7, 0.0, 0.0, 0.0]), style)
    inside = Path(lm[12:]).contains_points(pixel_centres(), radius=-1.0) & Path(
        lm[12:]).contains_points(pixel_centres(), radius=1.0)

    def near(frame, colour):
        return (np.abs(frame.reshape(-1, 3)[inside].astype(float) - colour).max(1) < 20).sum()

    assert near(teeth, style.teeth) > 20 and near(plain, style.teeth) == 0
    assert near(tongue, style.tongue) > 20 and near(plain, style.tongue) == 0


def test_closed_mouth_shows_lips_and_crease_but_no_interior():
    style = mouth_drawing.MouthStyle()
    frame, lm = render(np.array([0.0, 0.5, 0.1, 1.0, 1.0]), style)
    assert lm[14, 1] == pytest.approx(lm[18, 1], abs=1e-4)  # 62 meets 66
    pixels = frame.reshape(-1, 3).astype(float)
    assert (np.abs(pixels - style.teeth).max(1) < 20).sum() == 0
    assert (np.abs(pixels - style.interior).max(1) < 20).sum() == 0
    # Between 51 and 57 the column goes skin -> lip -> crease -> lip -> skin.
    x = int(lm[3, 0])
    column = frame[:, x].astype(float)
    darkest = column.sum(1).argmin()
    assert lm[3, 1] < darkest < lm[9, 1]
    assert column[darkest].sum() < 0.8 * np.asarray(style.lip).sum()


def test_draw_mouth_rejects_bad_input():
    canvas = np.zeros((80, 160, 3), np.uint8)
    lm = mouth_geometry.mouth_landmarks(np.full(5, 0.5), center=(80.0, 40.0), scale=40.0)
    with pytest.raises(InputError):
        mouth_drawing.draw_mouth(canvas.astype(np.float32), lm, np.full(5, 0.5),
                                 mouth_drawing.MouthStyle())
    with pytest.raises(InputError):
        mouth_drawing.draw_mouth(canvas, lm[None], np.full(5, 0.5), mouth_drawing.MouthStyle())
    with pytest.raises(InputError):
        mouth_drawing.draw_mouth(canvas, lm, np.full(5, 0.5), mouth_drawing.MouthStyle(),
                                 supersample=0)

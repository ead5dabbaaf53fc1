"""Tests of the synthetic_lips corpus (lipjax.data.synthetic.lips) and its tfds builder."""

import dataclasses

import numpy as np
import pytest
import scipy.optimize
from matplotlib.path import Path

from lipjax.data.synthetic import lips, sentences
from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_CHARS, GRID_WORDS

tfds = pytest.importorskip("tensorflow_datasets")
from lipjax.data.builders.synthetic_lips import SyntheticLips, SyntheticLipsConfig  # noqa: E402

TINY = lips.LipsCorpusConfig(num_speakers=2, train_sentences=2, test_sentences=1,
                             unseen_speakers=1, unseen_sentences=1, silence_frames=(2, 4),
                             supersample=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny config built with tfds, read back through array_record data sources."""
    builder = SyntheticLips(config="tiny", data_dir=str(tmp_path_factory.mktemp("tfds")),
                            file_format="array_record")
    builder.download_and_prepare()
    sources = builder.as_data_source()
    return {split: [sources[split][i] for i in range(len(sources[split]))] for split in sources}


@pytest.fixture(scope="module")
def generated():
    return {split: list(lips.generate_examples(TINY, split, progress=False))
            for split in lips.SPLITS}


def sentence_index(text):
    """Inverse of grid_sentence, by brute force over the grammar's slots."""
    index = 0
    for slot, word in zip(GRID_WORDS, text.split()):
        index = index * len(GRID_WORDS[slot]) + GRID_WORDS[slot].index(word)
    return index


def token_of_frame(durations):
    return np.repeat(np.arange(len(durations)), durations)


def test_tiny_builder_config_matches_the_plain_config():
    config = SyntheticLips.builder_configs["tiny"]
    for field in dataclasses.fields(lips.LipsCorpusConfig):
        assert getattr(config, field.name) == getattr(TINY, field.name), field.name


def test_splits_sizes_shapes_and_dtypes(built):
    assert {k: len(v) for k, v in built.items()} == {"train": 4, "test": 2,
                                                     "test_unseen_speaker": 1}
    for examples in built.values():
        for ex in examples:
            frames, landmarks = ex["frames"], ex["landmarks"]
            num_frames = frames.shape[0]
            assert frames.dtype == np.uint8 and frames.shape[1:] == (80, 160, 3)
            assert landmarks.dtype == np.float32 and landmarks.shape == (num_frames, 20, 2)
            assert ex["mouth"].dtype == np.float32 and ex["mouth"].shape == (num_frames, 5)
            assert ex["tokens"].dtype == np.int32 and ex["durations"].dtype == np.int32
            assert ex["durations"].sum() == num_frames and (ex["durations"] >= 1).all()
            text = ex["text"].decode()
            np.testing.assert_array_equal(ex["tokens"], GRID_CHARS.encode(text, add_silence=True))
            words = text.split()
            assert len(words) == 6 and all(w in GRID_WORDS[s] for s, w in zip(GRID_WORDS, words))
            assert ex["id"].decode() == f"s{int(ex['speaker']):02d}_{lips.grid_sentence_id(text)}"


def test_builder_records_equal_the_plain_generator(built, generated):
    for split in lips.SPLITS:
        by_id = {ex["id"]: ex for ex in generated[split]}
        assert sorted(by_id) == sorted(ex["id"].decode() for ex in built[split])
        for ex in built[split]:
            ref = by_id[ex["id"].decode()]
            for key in ("frames", "landmarks", "tokens", "durations", "mouth"):
                np.testing.assert_array_equal(ex[key], ref[key])


def test_same_seed_gives_identical_examples_and_another_seed_does_not(generated):
    again = list(lips.generate_examples(TINY, "test", progress=False))
    for a, b in zip(generated["test"], again):
        assert a["id"] == b["id"] and a["frames"].tobytes() == b["frames"].tobytes()
        np.testing.assert_array_equal(a["landmarks"], b["landmarks"])
    other = list(lips.generate_examples(dataclasses.replace(TINY, seed=1), "test", progress=False))
    assert [e["text"] for e in other] != [e["text"] for e in generated["test"]]


def test_train_and_test_sentences_are_disjoint_per_speaker():
    config = dataclasses.replace(TINY, train_sentences=300, test_sentences=100)
    for speaker in range(config.num_speakers):
        train = {i for s, i in lips._split_plan(config, "train") if s == speaker}
        test = {i for s, i in lips._split_plan(config, "test") if s == speaker}
        assert len(train) == 300 and len(test) == 100 and not train & test


def test_unseen_speaker_split_has_no_training_speaker(built):
    train_speakers = {int(ex["speaker"]) for ex in built["train"]}
    assert train_speakers == {0, 1}
    assert {int(ex["speaker"]) for ex in built["test"]} <= train_speakers
    assert not {int(ex["speaker"]) for ex in built["test_unseen_speaker"]} & train_speakers


def test_landmarks_inside_frame_and_in_dlib_order(built):
    for examples in built.values():
        for ex in examples:
            lm = ex["landmarks"]
            assert (lm[..., 0] >= 0).all() and (lm[..., 0] <= 160).all()
            assert (lm[..., 1] >= 0).all() and (lm[..., 1] <= 80).all()
            outer = lm[:, :12]
            assert (outer[..., 0].argmin(1) == 0).all() and (outer[..., 0].argmax(1) == 6).all()
            assert (lm[:, 3, 1] < lm[:, 9, 1]).all()  # 51 above 57
            # The mouth is a GRID-crop-sized object: between a third and 3/4 of the crop width.
            width = lm[:, 6, 0] - lm[:, 0, 0]
            assert (width > 160 / 3).all() and (width < 0.75 * 160).all()


def inner_opening(landmarks):
    return landmarks[:, 18, 1] - landmarks[:, 14, 1]  # 66.y - 62.y


def test_mouth_opens_on_a_and_closes_on_bilabials():
    config = dataclasses.replace(TINY, num_speakers=1)
    speaker = lips.make_speaker(config, 0)
    a_open, closed = [], []
    texts = ("place blue at a two please", "bin green by b zero again", "lay red with p nine now")
    for text in texts:
        ex = lips.make_example(config, speaker, sentence_index(text))
        assert ex["text"] == text
        symbols = np.asarray(GRID_CHARS.symbols)[ex["tokens"]][token_of_frame(ex["durations"])]
        opening = inner_opening(ex["landmarks"])
        a_open.append(opening[symbols == "a"])
        closed.append(opening[np.isin(symbols, ["m", "b", "p"])])
    a_open, closed = np.concatenate(a_open), np.concatenate(closed)
    assert a_open.mean() > 3 * closed.mean() and a_open.mean() > 8.0  # pixels


def distance_to_mixtures(pixels, colours):
    """Distance of each pixel to the convex hull of `colours` (non-negative least squares)."""
    basis = np.vstack([np.asarray(colours, float).T, 100.0 * np.ones(len(colours))])
    out = []
    for pixel in pixels:
        weights, _ = scipy.optimize.nnls(basis, np.append(pixel, 100.0))
        out.append(np.linalg.norm(np.asarray(colours, float).T @ weights - pixel))
    return np.asarray(out)


def test_rendered_pixels_agree_with_landmarks(generated):
    ys, xs = np.mgrid[0:80, 0:160]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)
    checked = 0
    for ex in generated["train"] + generated["test_unseen_speaker"]:
        frames, lm = ex["frames"], ex["landmarks"]
        style = lips.make_speaker(TINY, int(ex["speaker"])).style
        skin = np.median(frames[:, :6, :6].reshape(-1, 3), 0).astype(float)  # a crop corner
        for t in np.flatnonzero(inner_opening(lm) > 6.0)[::3]:
            pixels = frames[t].reshape(-1, 3).astype(float)
            inner = Path(lm[t, 12:])
            inside = inner.contains_points(centres, radius=-1.5) & inner.contains_points(
                centres, radius=1.5)
            # Inside the inner contour every pixel is interior, teeth or tongue (or an
            # anti-aliased mix of them), never skin.
            mouth_colours = [style.interior, style.teeth, np.multiply(style.teeth, 0.9),
                             style.tongue]
            assert distance_to_mixtures(pixels[inside], mouth_colours).max() < 4.0
            assert np.abs(pixels[inside] - skin).max(1).mean() > 40
            # The lips are redder than the skin: R/G higher at the middle of the upper lip.
            x, y = ((lm[t, 3] + lm[t, 14]) / 2).astype(int)
            lip = frames[t, y, x].astype(float)
            assert lip[0] / lip[1] > 1.1 * skin[0] / skin[1]
            checked += 1
    assert checked > 5


def test_different_texts_give_different_videos():
    speaker = lips.make_speaker(TINY, 0)
    symbols_a = ["<sil>", *"bin blue at a one now", "<sil>"]
    symbols_b = ["<sil>", *"set red by u six soon", "<sil>"]
    assert len(symbols_a) == len(symbols_b)
    durations = np.full(len(symbols_a), 3)
    def render(symbols):  # the same head motion and jitter draws for both texts
        return lips.render_video(symbols, durations, speaker, np.random.default_rng(5), config=TINY)

    video_a, video_b, same = render(symbols_a), render(symbols_b), render(symbols_a)
    np.testing.assert_array_equal(video_a["frames"], same["frames"])
    difference = np.abs(video_a["frames"].astype(int) - video_b["frames"]).mean(axis=(1, 2, 3))
    assert (difference[3:-3] > 0).mean() > 0.8 and difference.mean() > 2.0
    assert np.abs(video_a["landmarks"] - video_b["landmarks"]).max() > 5.0


def test_speakers_differ_in_appearance_and_rate():
    speakers = [lips.make_speaker(TINY, i) for i in range(3)]
    assert len({s.skin for s in speakers}) == 3 and len({s.style.lip for s in speakers}) == 3
    assert len({s.mouth_scale for s in speakers}) == 3
    assert len({s.speaking_rate for s in speakers}) == 3


def test_durations_follow_rate_and_classes():
    symbols = ["<sil>"] + list("aaaa tttt") * 40 + ["<sil>"]
    rng = np.random.default_rng(0)
    slow, fast = (lips.sample_durations(symbols, rng, speaking_rate=rate, jitter=0.2,
                                        silence_frames=(3, 5)) for rate in (0.8, 1.25))
    symbols = np.asarray(symbols)
    assert slow.dtype == np.int32 and (slow >= 1).all()
    assert 3 <= slow[0] <= 5 and 3 <= slow[-1] <= 5
    assert slow[symbols == "a"].mean() > slow[symbols == "t"].mean()  # vowels are longer
    assert slow[1:-1].sum() > 1.3 * fast[1:-1].sum()


def test_grid_sentences_cover_the_grammar():
    assert sentences.num_grid_sentences() == 4 * 4 * 4 * 25 * 10 * 4
    assert sentences.grid_sentence(0) == "bin blue at a zero again"
    for index in (0, 1, 12345, sentences.num_grid_sentences() - 1):
        assert sentence_index(sentences.grid_sentence(index)) == index
    assert sentences.grid_sentence_id("bin blue at f two now") == "bbaf2n"
    with pytest.raises(InputError):
        sentences.grid_sentence(sentences.num_grid_sentences())


@pytest.mark.parametrize("change", [
    {"num_speakers": -1}, {"train_sentences": 64_000, "test_sentences": 1},
    {"speaking_rate": (1.2, 0.8)}, {"supersample": 0},
])
def test_bad_config_raises(change):
    with pytest.raises(ConfigError):
        next(lips.generate_examples(dataclasses.replace(TINY, **change), progress=False))


def test_builder_config_accepts_corpus_fields():
    config = SyntheticLipsConfig(name="custom", num_speakers=3, seed=7)
    assert config.num_speakers == 3 and config.seed == 7 and config.train_sentences == 24


def test_text_only_timing_error_matches_the_generated_durations(generated):
    # With one rate, no jitter and fixed silences, text fixes the timing exactly.
    exact = dataclasses.replace(TINY, speaking_rate=(1.0, 1.0), duration_jitter=0.0,
                                silence_frames=(3, 3))
    assert lips.text_only_timing_error(exact, "train") == {
        "length_abs_error": 0.0, "token_shift": 0.0, "num_videos": 4}
    # Otherwise: brute force over the generated examples with the same ideal predictor.
    rates = [lips.make_speaker(TINY, i).speaking_rate for i in range(TINY.num_speakers)]
    errors = []
    for example in generated["test"]:
        symbols = [GRID_CHARS.symbols[i] for i in example["tokens"]]
        guess = [np.mean(TINY.silence_frames) if y == "<sil>" else
                 lips.BASE_FRAMES[lips.SOUND_CLASSES[y]] * np.mean(1 / np.asarray(rates))
                 * np.exp(TINY.duration_jitter**2 / 2) for y in symbols]
        errors.append(abs(int(example["durations"].sum()) - int(np.round(guess).sum())))
    result = lips.text_only_timing_error(TINY, "test")
    assert result["num_videos"] == len(generated["test"])
    assert result["length_abs_error"] == pytest.approx(np.mean(errors))


def test_varied_timing_config_is_harder_to_predict_from_text():
    small, varied = (next(c for c in SyntheticLips.BUILDER_CONFIGS if c.name == name)
                     for name in ("small", "small_varied_timing"))
    easy, hard = (lips.text_only_timing_error(c, "test") for c in (small, varied))
    assert hard["length_abs_error"] > 2 * easy["length_abs_error"]
    assert hard["token_shift"] > 2 * easy["token_shift"]

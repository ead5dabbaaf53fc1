"""Tests of lipjax.text: lipjax's vocabularies and the token lists of published models."""

import json

import ml_collections
import numpy as np
import pytest

from lipjax.errors import ConfigError, InputError
from lipjax.text import GRID_CHARS, PHONEMES, SIL_ID, TokenVocabulary, get_vocabulary


def test_lipjax_vocabularies_read_a_sentence_between_silences():
    ids = GRID_CHARS.encode_sentence("Bin  blue")
    assert ids[0] == ids[-1] == SIL_ID and GRID_CHARS.decode_text(ids) == "bin blue"
    np.testing.assert_array_equal(PHONEMES.encode_sentence("sh iy"),
                                  PHONEMES.encode(["sh", "iy"], add_silence=True))
    assert get_vocabulary("grid_chars") is GRID_CHARS and get_vocabulary("phonemes") is PHONEMES
    with pytest.raises(InputError, match="'<pad>'"):
        PHONEMES.encode("sh <pad>")          # id 0 would read as padding


def test_a_token_list_gives_the_official_ids_and_reads_tokens_as_written():
    vocabulary = TokenVocabulary.from_tokens(["sh", "<UNK>", "iy", "<pad>", "hh"], "dict.txt")
    assert vocabulary.symbols == ("<pad>", "<EOS>", "<UNK>", "sh", "iy", "hh")
    np.testing.assert_array_equal(vocabulary.encode_sentence(" sh  iy hh "), [3, 4, 5])
    np.testing.assert_array_equal(vocabulary.encode(["hh", "sh"]), [5, 3])
    assert vocabulary.decode([3, 4, 0, 0]) == ["sh", "iy"]
    with pytest.raises(InputError, match=r"2 symbol\(s\).*'SH', 'zz'.*Allowed: 'sh' 'iy' 'hh'\."):
        vocabulary.encode("SH iy zz zz")      # case-sensitive, every unknown token named once
    with pytest.raises(InputError, match="empty"):
        vocabulary.encode("   ")
    with pytest.raises(InputError, match="no <sil>"):
        vocabulary.encode("sh", add_silence=True)


def test_token_list_files(tmp_path):
    (tmp_path / "dict.txt").write_text("aa\n<EOS>\n b \nch\n", encoding="utf-8")
    (tmp_path / "phone_set.json").write_text(json.dumps(["aa", "<EOS>", "b", "ch"]))
    from_text = TokenVocabulary.from_file(tmp_path / "dict.txt")
    assert from_text.symbols == ("<pad>", "<EOS>", "<UNK>", "aa", "b", "ch")
    assert TokenVocabulary.from_file(tmp_path / "phone_set.json").symbols == from_text.symbols
    (tmp_path / "blank.txt").write_text("aa\n\nb\n")
    with pytest.raises(InputError, match=r"blank entries \(line/item \[2\]\)"):
        TokenVocabulary.from_file(tmp_path / "blank.txt")
    (tmp_path / "twice.txt").write_text("aa\nb\naa\n")
    with pytest.raises(InputError, match=r"more than once: \['aa'\]"):
        TokenVocabulary.from_file(tmp_path / "twice.txt")
    (tmp_path / "bad.json").write_text('{"aa": 1}')
    with pytest.raises(InputError, match="JSON list of strings"):
        TokenVocabulary.from_file(tmp_path / "bad.json")
    with pytest.raises(InputError, match="cannot read"):
        TokenVocabulary.from_file(tmp_path / "absent.txt")


def test_a_config_stores_a_token_list_and_gets_it_back():
    vocabulary = TokenVocabulary.from_tokens(["sh", "iy"], "dict.txt tokens")
    config = ml_collections.ConfigDict({"data": {"vocabulary": vocabulary.to_config()}})
    reread = ml_collections.ConfigDict(json.loads(config.to_json()))   # as config.json is read
    assert get_vocabulary(reread.data.vocabulary) == vocabulary
    assert get_vocabulary(vocabulary.to_config()) == vocabulary
    with pytest.raises(ConfigError, match="vocabulary name or"):
        get_vocabulary({"kind": "letters", "symbols": ["<pad>"]})
    with pytest.raises(ConfigError, match="starts with <pad>, <EOS>, <UNK>"):
        get_vocabulary({"kind": "tokens", "symbols": ["<pad>", "sh"]})
    with pytest.raises(InputError, match="unknown vocabulary 'klingon'"):
        get_vocabulary("klingon")

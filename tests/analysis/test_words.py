import pytest

from video_ktr.analysis.words import regex_tagger, spacy_tagger, token_texts, word_is_kept, words_of

from tests.analysis.conftest import SAMPLE_A


def test_byte_level_pieces_are_decoded():
    assert token_texts(["ĠHello", "Ċ", "Ġw", "orld", "<|im_end|>"]) == [" Hello", "\n", " w", "orld", "<|im_end|>"]
    assert token_texts(["▁the", "▁sq", "uare"]) == [" the", " sq", "uare"]
    assert token_texts([" the", "x"]) == [" the", "x"]          # decoded text stays as it is


def test_bpe_pieces_merge_into_words_and_markup_is_one_word():
    words = words_of([SAMPLE_A["tokens"]], regex_tagger)[0]
    assert [w.text for w in words] == ["<think>", "Wait", ",", "the", "red", "square", "appears", "first", ".",
                                       "</think>", "<answer>", "A", "</answer>"]
    square = words[5]
    assert square.token_ids == (5, 6) and words[0].pos == "MARKUP"


def test_a_word_is_kept_if_any_of_its_tokens_is_kept():
    words = words_of([SAMPLE_A["tokens"]], regex_tagger)[0]
    square = words[5]                                            # tokens " sq" (kept by visual) + "uare" (not)
    assert word_is_kept(square, SAMPLE_A["masks"]["visual"])
    assert not word_is_kept(square, SAMPLE_A["masks"]["entropy"])


def test_a_token_spanning_two_words_belongs_to_both():
    words = words_of([["Hi", " there.", " Ok"]], regex_tagger)[0]
    assert [(w.text, w.token_ids) for w in words] == [("Hi", (0,)), ("there", (1,)), (".", (1,)), ("Ok", (2,))]


def test_spacy_tags_parts_of_speech_offline():
    words = words_of([SAMPLE_A["tokens"]], spacy_tagger())[0]
    pos = {w.text: w.pos for w in words}
    assert pos["the"] == "DET" and pos["appears"] == "VERB" and pos["<think>"] == "MARKUP"
    assert [w.text for w in words][:6] == ["<think>", "Wait", ",", "the", "red", "square"]


def test_a_character_split_over_byte_tokens_is_decoded_once():
    # "é" is bytes c3 a9 -> byte-level pieces "Ã" and "©"; "Ġcaf" + "Ã" + "©" decodes to " caf", "", "é"
    assert token_texts(["Ġcaf", "Ã", "©"]) == [" caf", "", "é"]
    words = words_of([["Ġcaf", "Ã", "©"]], regex_tagger)[0]
    assert [(w.text, w.token_ids) for w in words] == [("café", (0, 1, 2))]   # both pieces of "é" join the word


def test_missing_analysis_extra_says_how_to_install(monkeypatch, tmp_path):
    import sys

    from video_ktr.analysis.tokens import plot_wordclouds

    monkeypatch.setitem(sys.modules, "spacy", None)          # import spacy -> ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[analysis\]'"):
        spacy_tagger()
    monkeypatch.setitem(sys.modules, "wordcloud", None)
    with pytest.raises(ImportError, match=r"\.\[analysis\]"):
        plot_wordclouds({"entropy": {"kept_word_counts": {"a": 1}, "masked_word_counts": {"b": 1}}}, tmp_path / "w.png")

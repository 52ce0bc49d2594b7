import pytest

from video_ktr.analysis.rundir import load_samples
from video_ktr.analysis.tokens import plot_pos, plot_wordclouds, token_stats
from video_ktr.analysis.words import spacy_tagger


@pytest.fixture
def stats(ktr_run):
    return token_stats(load_samples(ktr_run), top_k=20)


def test_kept_token_counts_by_hand(stats):
    # A keeps 5 of 14 (key), B 2 of 10, C 2 of 8 -> 9 of 32
    assert (stats["key"]["num_kept_tokens"], stats["key"]["num_tokens"]) == (9, 32)
    assert (stats["entropy"]["num_kept_tokens"], stats["entropy"]["num_tokens"]) == (4, 32)
    assert (stats["visual"]["num_kept_tokens"], stats["visual"]["num_tokens"]) == (4, 32)
    # temporal: the image sample C has no temporal scores, so only A (14) and B (10) count; A keeps 2
    assert (stats["temporal"]["num_samples"], stats["temporal"]["num_kept_tokens"],
            stats["temporal"]["num_tokens"]) == (2, 2, 24)
    assert stats["key"]["kept_token_frac"] == pytest.approx(9 / 32)


def test_word_counts_and_top_lists_by_hand(stats):
    key = stats["key"]
    # words: A 13, B 10, C 8; kept A {Wait, red, square, first, A}, B {Hmm, blue}, C {It, green}
    assert (key["num_kept_words"], key["num_words"]) == (9, 31)
    assert sorted(w for w, _ in key["top_kept_words"]) == sorted(["Wait", "red", "square", "first", "A", "Hmm",
                                                                  "blue", "It", "green"])
    assert key["top_masked_words"][:6] == [["</answer>", 3], ["</think>", 3], ["<answer>", 3], ["<think>", 3],
                                           [".", 2], ["the", 2]]
    assert ["sq", 1] in stats["visual"]["top_kept_tokens"] and ["uare", 1] in stats["visual"]["top_masked_tokens"]
    # scores are 2.0 on kept and 0.5 on masked tokens in the fixture
    assert stats["entropy"]["mean_score_kept"] == 2.0 and stats["entropy"]["mean_score_masked"] == 0.5


def test_pos_distribution_and_plots(ktr_run, tmp_path):
    stats = token_stats(load_samples(ktr_run), tagger=spacy_tagger())
    pos = stats["key"]["pos"]
    assert pos["DET"]["masked"] == 2                                         # "the" twice, never kept
    assert pos["MARKUP"] == {"kept": 0, "masked": 12, "kept_share": 0.0, "masked_share": pytest.approx(12 / 22)}
    assert sum(p["kept"] for p in pos.values()) == 9
    assert sum(p["kept_share"] for p in pos.values()) == pytest.approx(1.0)
    for f in (plot_wordclouds(stats, tmp_path / "wc.png"), plot_pos(stats, tmp_path / "pos.png")):
        assert f.stat().st_size > 5000


def test_temporal_never_applies_to_images_even_when_logged(ktr_run):
    # a logger that writes temporal masks/scores for an image row (all tokens "selected", scores 0) must not count
    samples = load_samples(ktr_run)
    c = samples[2]
    c.masks["temporal"], c.scores["temporal"] = [1] * len(c.tokens), [0.0] * len(c.tokens)
    assert not c.applies("temporal") and c.applies("visual")
    assert token_stats(samples)["temporal"]["num_tokens"] == 24

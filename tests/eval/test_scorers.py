"""Scorers on hand-written model outputs: each benchmark's official rule, quirks included, and the strict one."""
from __future__ import annotations

from pathlib import Path

import pytest

from video_ktr.eval import mmmu
from video_ktr.eval.extract import extract_holmes, extract_letter, extract_videomme, mean_relative_accuracy
from video_ktr.eval.items import EvalItem
from video_ktr.eval.scorers import SCORERS


def item(answer="B", options=("A. red", "B. blue", "C. green", "D. pink"), ptype="multiple choice", **extra):
    return EvalItem(id="q", question="?", options=list(options), answer=answer, problem_type=ptype,
                    data_type="video", media_path=Path("v.mp4"), extra=extra)


# ------------------------------------------------------------------------------------------------- Video-Holmes
@pytest.mark.parametrize("text, want", [
    ("<think>hmm</think><answer>B</answer>", "B"),
    ("<answer>A</answer> wait <answer>C</answer>", "C"),          # several tags: the LAST one counts
    ("<answer>The best answer is (B).</answer>", "B"),             # "(B" has no "X "/"X:"/"[X"; bare pass: B
    ("<answer>b</answer>", None),                                  # case-sensitive: lowercase is no answer
    ("Answer: B", "A"),                                            # no tag: whole text; "A" of "Answer" first
    ("<answer>Answer: B</answer>", "A"),                           # same quirk inside the tag
    ("I pick [D] because", "D"),
    ("no letters here at all", None),
    ("The answer is E ", "E"),                                     # "E " wins over bare passes
])
def test_holmes_extraction(text, want):
    assert extract_holmes(text) == want


def test_holmes_scorer_counts_unparseable_as_wrong():
    s = SCORERS.get("holmes")
    assert s.judge("<answer>B</answer>", item()).score == 1.0
    j = s.judge("<answer>b</answer>", item())
    assert (j.pred, j.score, j.answered) == (None, 0.0, False)
    assert not s.answered_only
    # letters inside words: "Because" contains no "X "/"X:"; bare pass finds "B" of "Because" → right by accident
    assert s.judge("Because it is", item()).pred == "B"


# ----------------------------------------------------------------------------------------------------- VideoMME
@pytest.mark.parametrize("text, want", [
    ("The best answer is (B).", "B"),
    ("B", "B"),
    ("The answer is C", "C"),
    ("<think>Looking at the video</think><answer>D</answer>", "D"),    # the first capital A–D is the answer's
    ("Answer: D", "D"),                                                # current script strips "Answer:"
    ("the video shows a man walking his dog in the park on a sunny day", None),  # > 10 words, no A–D
    ("c", None),                                                       # lowercase: no letter
    ("Best answer: C", "B"),                                           # prefix never stripped (missing comma)
    ("Final Answer: C", "C"),
    ("A dog. The correct option C", "A"),                              # the first capital A–D anywhere
])
def test_videomme_extraction(text, want):
    assert extract_videomme(text) == want


def test_videomme_scorer_denominator_is_answered():
    s = SCORERS.get("videomme")
    assert s.answered_only
    j = s.judge("the video shows a man walking his dog in the park on a sunny day", item())
    assert not j.answered and j.score == 0.0


# ------------------------------------------------------------------------------------------------------ VideoMMMU
IDX = {"A": "red", "B": "blue", "C": "green", "D": "pink"}


@pytest.mark.parametrize("text, want", [
    ("(C)", "C"),
    ("The answer is (B) not (A)", "A"),          # several bracketed candidates: the one found last wins
    ("B", "B"),
    ("B.", "B"),
    ("(A) is wrong; B. is right", "B"),          # "X." is looked for before "(X)" (VideoMMMU's own order)
    ("A: no. C: yes", "C"),
    ("I think the colour is clearly pink in every single frame", "D"),   # > 5 words: option text match
    ("nothing to see", None),                     # official: "No Answer Found." (wrong)
    ("b", None),
])
def test_videommmu_choice(text, want):
    assert mmmu.parse_choice(text, IDX) == want


def vmmmu_item(answer, qtype, options=()):
    return EvalItem(id="q", question="?", options=[], answer=answer, problem_type="free-form", data_type="video",
                    media_path=Path("v.mp4"), extra={"question_type": qtype, "raw_options": list(options)})


def test_videommmu_open_and_scorer():
    preds = mmmu.parse_open("Let me compute.\nSo the result is 3.14")
    assert 3.14 in preds
    assert mmmu.judge_open("3.14", preds) and not mmmu.judge_open("2.71", preds)
    assert mmmu.judge_open("photosynthesis", mmmu.parse_open("the answer is photosynthesis"))
    assert 12.0 in mmmu.parse_open("the values adds up to 12")          # one of VideoMMMU's 26 indicators
    s = SCORERS.get("videommmu")
    assert s.judge("so the answer is 42", vmmmu_item("42", None)).score == 1.0      # question_type null = open
    assert s.judge("The answer is (B).", vmmmu_item("B", "multiple-choice", ["x", "y"])).score == 1.0
    # pre-lettered option texts keep their position letters: "B: text" at position A is still option A
    assert s.judge("A.", vmmmu_item("A", "multiple-choice", ["B: one", "A: two"])).pred == "A"
    j = s.judge("", vmmmu_item("B", "multiple-choice", ["x", "y"]))
    assert j.dropped and not j.correct                                            # left out of the denominator
    long = "x" * (mmmu.OPEN_MAX_CHARS + 10) + "\nso the answer is 42"
    j = s.judge(long, vmmmu_item("42", "open"))
    assert j.capped and j.score == 1.0


# ------------------------------------------------------------------------------------------------- letters (strict)
@pytest.mark.parametrize("text, want", [("B", "B"), ("(B)", "B"), ("B. blue", "B"), ("B)", "B"),
                                        ("Because", None), ("b", None), ("blue", None)])
def test_extract_letter(text, want):
    assert extract_letter(text) == want


def test_mmvu_mc_is_video_r1_multiple_choice():
    s = SCORERS.get("mmvu_mc")
    assert s.judge("<think>x</think><answer>B</answer>", item()).score == 1.0
    assert s.judge("<answer>(B)</answer>", item()).score == 0.0                # exact match
    assert s.judge("B", item()).score == 1.0                                    # no tag: the whole output
    assert s.judge("<answer>B</answer><answer>C</answer>", item()).pred == "B"  # first tag


# ----------------------------------------------------------------------------------------- Video-R1 and strict
def test_video_r1_rules():
    s = SCORERS.get("video_r1")
    assert s.judge("<answer>B</answer>", item()).score == 1.0
    assert s.judge("<answer>(B)</answer>", item()).score == 0.0               # exact match of strings
    assert s.judge("<answer>E.</answer>", item(answer="E")).score == 0.0
    assert s.judge("<answer>A</answer><answer>B</answer>", item()).score == 0.0  # first tag
    assert s.judge("B", item()).score == 1.0                                  # no tag: the whole output
    assert s.judge("<answer> </answer>B", item()).score == 0.0               # empty tag: whole output ≠ "B"
    num = item(answer="3", options=(), ptype="numerical")
    assert s.judge("<answer>3</answer>", num).score == 1.0
    assert s.judge("<answer>3.0</answer>", num).score == 0.0                  # one side has a "."
    assert s.judge("<answer>red</answer>", item(answer="red", options=(), ptype="free-form")).score == 0.0


def test_regression_is_float32_mean_relative_accuracy():
    # rel err 0.12: 1[0.12 < 1 − θ] holds for θ ∈ {0.50 … 0.85} (1 − 0.85 = 0.15), not 0.90/0.95 → 8/10
    assert mean_relative_accuracy(11.2, 10.0) == pytest.approx(0.8)
    assert mean_relative_accuracy(10.0, 10.0) == 1.0
    assert mean_relative_accuracy(20.0, 10.0) == 0.0                          # rel err 1.0
    # exactly on a threshold: in float32 |11.5 − 10| / 10 = 0.15 is not < 1 − 0.85 (float32) → 7/10
    assert mean_relative_accuracy(11.5, 10.0) == pytest.approx(0.7)
    reg = item(answer="10", options=(), ptype="regression")
    assert SCORERS.get("video_r1").judge("<answer>11.2</answer>", reg).score == pytest.approx(0.8)
    assert SCORERS.get("video_r1").judge("<answer>ten</answer>", reg).score == 0.0


def test_strict():
    s = SCORERS.get("strict")
    assert s.judge("<think>.</think><answer>B</answer>", item()).score == 1.0
    assert s.judge("<answer>B</answer> <answer>B</answer>", item()).pred is None  # several tags: ambiguous
    assert s.judge("The best answer is (B).", item()).pred is None
    assert s.judge("<answer>b</answer>", item()).pred is None                    # not an option letter
    assert s.judge("<answer>B.</answer>", item()).pred is None


@pytest.mark.parametrize("name", SCORERS.names())
def test_every_scorer_handles_empty_and_garbage(name):
    for text in ("", "<answer></answer>", "<answer>", "x" * 5000):
        j = SCORERS.get(name).judge(text, item())
        assert 0.0 <= j.score <= 1.0


def test_unknown_scorer():
    with pytest.raises(KeyError, match="known"):
        SCORERS.get("nope")

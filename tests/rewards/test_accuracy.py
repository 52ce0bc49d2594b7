"""Accuracy rewards: hand-computed values per problem type, including the reference's edge rules (METHOD §3)."""
import math

import pytest

from video_ktr.rewards import (
    ACCURACY_SCORERS,
    accuracy_reward,
    extract_answer,
    parse_number,
    validate_problem_type,
    validate_problem_types,
)


def acc(pred: str, gt: str, problem_type: str) -> float:
    return accuracy_reward([f"<think>t</think><answer>{pred}</answer>"], [f"<answer>{gt}</answer>"], [problem_type])[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<answer>A</answer>", "A"),
        ("<answer>\n  B \n</answer>", "B"),                      # \s* on both sides, then strip
        ("x<answer>1</answer><answer>2</answer>", "1"),          # first block
        ("<answer>a<answer>b</answer>", "a<answer>b"),           # nested: first open with first close after it
        ("<answer>unclosed", None),
        ("</answer><answer>x", None),
        ("no tags", None),
        ("", None),
        ("<answer></answer>", ""),
        ("<answer>multi\nline</answer>", "multi\nline"),         # DOTALL
    ],
)
def test_extract_answer_matches_reference_regex(text, expected):
    import re

    assert extract_answer(text) == expected
    m = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
    assert (m.group(1).strip() if m else None) == expected


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("A", "A", 1.0),
        (" A ", "A", 1.0),     # stripped
        ("A.", "A", 0.0),      # reference rule: exact match, "A." is wrong
        ("(A)", "A", 0.0),
        ("a", "A", 0.0),       # case-sensitive
        ("A. The dog", "A", 0.0),
        ("", "A", 0.0),
    ],
)
def test_multiple_choice_exact_match(pred, gt, expected):
    assert acc(pred, gt, "multiple choice") == expected


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("42", "42", 1.0),
        ("42", "43", 0.0),
        ("3.14", "3.14159", 1.0),   # both have ".", round(.., 2) = 3.14 on both sides
        ("3.14", "3.149", 0.0),     # 3.14 vs 3.15
        ("3", "3.0", 0.0),          # exactly one side has "." → 0 even though equal
        ("1,000", "1000", 0.0),     # exactly one side has ","
        ("1,000", "1,000", 1.0),    # commas removed → 1000 == 1000
        ("1,000", "1000.0", 1.0),   # both have "." or "," → 1000 == 1000
        ("-0", "0", 1.0),           # -0.0 == 0.0
        ("1e3", "1000", 1.0),
        ("nan", "nan", 0.0),        # never parsed: not a strict number
        ("inf", "inf", 0.0),
        ("1e999", "1e999", 0.0),    # overflows to inf → unparsable
        ("1e308", "1e308", 1.0),
        ("١٢", "12", 0.0),          # non-ASCII digits are not numbers here
        ("1_000", "1000", 0.0),     # float() would accept it; we do not
        ("12 apples", "12", 0.0),
        ("", "12", 0.0),
    ],
)
def test_numerical_rules(pred, gt, expected):
    assert acc(pred, gt, "numerical") == expected


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("hello world", "hello world", 1.0),
        ("hello word", "hello world", 0.5),              # 1 substitution / 2 words
        ("a x c d e f", "a b c", 0.0),                   # WER = 4/3 → 1 − 4/3 clipped to 0
        ("a b", "a b c", 1 - 1 / 3),                     # 1 deletion / 3 words
        ("", "a b", 0.0),
        ("anything", "", 0.0),                           # empty reference, words predicted: 1 − n clipped → 0
        ("", "", 1.0),                                   # both empty: distance 0 / max(1, 0) → 1 (reference)
        ("  \n ", "", 1.0),                              # whitespace only is empty
        ("STOP\nAHEAD now", "STOP AHEAD now", 1.0),      # any whitespace separates words (reference: str.split)
        ("STOP\tAHEAD\n\nnow ", "  STOP AHEAD now", 1.0),
        ("STOP\nAHEAD later", "STOP AHEAD now", 1 - 1 / 3),
    ],
)
def test_ocr_one_minus_wer(pred, gt, expected):
    assert acc(pred, gt, "OCR") == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("the cat sat", "the cat sat", 1.0),
        # unigrams 2/3 overlap (F=2/3), bigrams 1/2 (F=1/2), LCS 2 (F=2/3): mean = (2/3 + 1/2 + 2/3) / 3
        ("a cat sat", "the cat sat", (2 / 3 + 1 / 2 + 2 / 3) / 3),
        # stemming: "running cats" ≡ "run cat" (Porter), so it is a perfect match
        ("running cats", "run cat", 1.0),
        ("dog", "the cat sat", 0.0),
        ("", "the cat sat", 0.0),
        ("猫", "猫", 0.0),                                # rouge-score's tokenizer drops non-ASCII: no tokens → 0
    ],
)
def test_free_form_mean_rouge(pred, gt, expected):
    assert acc(pred, gt, "free-form") == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ("10", "10", 1 - 1e-9 / (10 + 1e-9)),            # epsilon on both sides: not exactly 1
        ("11", "10", 1 - (1 + 1e-9) / (10 + 1e-9)),      # 10 % relative error → ≈ 0.9
        ("5", "10", 1 - (5 + 1e-9) / (10 + 1e-9)),       # ≈ 0.5
        ("30", "10", 0.0),                               # 200 % error clipped to 1 → 0
        ("0", "0", 0.0),                                 # reference quirk: (0 + eps) / (0 + eps) = 1 → 0
        ("-10", "10", 0.0),
        ("1,000", "1000", 1 - 1e-9 / (1000 + 1e-9)),     # commas removed (no decimal-point rule here)
        ("1e308", "-1e308", 0.0),                        # |pred − gt| overflows to inf → clipped
        ("ten", "10", 0.0),                              # unparsable → 0
        ("nan", "10", 0.0),
    ],
)
def test_regression_relative_error(pred, gt, expected):
    assert acc(pred, gt, "regression") == pytest.approx(expected, abs=1e-12)


def test_missing_answer_scores_zero_for_every_type():
    for problem_type in ACCURACY_SCORERS.names():
        assert accuracy_reward(["<think>A</think> A"], ["<answer>A</answer>"], [problem_type]) == [0.0]


def test_solution_without_tags_is_taken_whole():
    assert accuracy_reward(["<answer>B</answer>"], [" B "], ["multiple choice"]) == [1.0]


def test_unknown_problem_type_is_a_clear_error():
    with pytest.raises(KeyError, match=r"unknown problem_type\(s\) \['multiple-choice'\]; known: \['OCR', 'free-form'"):
        accuracy_reward(["<answer>A</answer>"], ["<answer>A</answer>"], ["multiple-choice"])
    with pytest.raises(KeyError, match="known"):
        validate_problem_type("Numerical")
    with pytest.raises(KeyError, match=r"\['essay', 'yes/no'\]"):
        validate_problem_types(["numerical", "essay", "yes/no", "essay"])
    validate_problem_types(["numerical", "OCR"])  # fine
    assert validate_problem_type("OCR") == "OCR"


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one solution and one problem_type per completion"):
        accuracy_reward(["a", "b"], ["a"], ["OCR", "OCR"])


@pytest.mark.parametrize(
    "text, expected",
    [("12", 12.0), ("-0", -0.0), (" 3.5 ", 3.5), (".5", 0.5), ("5.", 5.0), ("1,234.5", 1234.5), ("+2e-3", 0.002),
     ("nan", None), ("inf", None), ("-Infinity", None), ("1e309", None), ("0x10", None), ("1/2", None),
     ("٣", None), ("", None), ("1" * 300, None), ("__import__('os')", None)],
)
def test_parse_number_is_strict(text, expected):
    value = parse_number(text)
    assert value == expected
    assert value is None or math.isfinite(value)


def test_every_data_problem_type_has_a_scorer():
    from video_ktr.data import PROBLEM_TYPES as DATA_PROBLEM_TYPES

    validate_problem_types(DATA_PROBLEM_TYPES)

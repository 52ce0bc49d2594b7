"""Each benchmark's *official* answer-extraction rule, reproduced exactly — quirks included (METHOD §6).

Pure string functions: a model output in, the extracted answer (``None`` = nothing extracted) out. Each function
names the official file it reproduces; ``tests/eval/data/parity_*.json`` holds outputs scored by running that file
and ``tests/eval/test_parity.py`` asserts we return the same. The official scripts' random-letter fallbacks are not
reproduced (none of the rules below has one).

Linear time: every function here runs in O(len(text)) on any input — ``str.find``/``in``/``replace`` and regexes
without backtracking over unbounded input (tests/eval/test_scorer_speed.py: < 50 ms on 1 MB hostile outputs).
The official code uses ``re.findall(r"<answer>\\s*(.*?)\\s*</answer>")``, which is quadratic when an ``<answer>``
has no closing tag; the equivalents here use a constant number of ``str.find`` calls.
"""
from __future__ import annotations

import re

import numpy as np

from video_ktr.rewards.extract import ANSWER_CLOSE, ANSWER_OPEN
from video_ktr.rewards.extract import extract_answer as first_answer_tag  # noqa: F401  (re.search: first pair)


# The official scripts use re.findall / re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL): each
# <answer> pairs with the first </answer> after it, non-overlapping, content stripped (\s* on both sides is
# str.strip() of the body: both use str.isspace). The helpers below return the same with a constant number of
# str.find/rfind calls (the two tags never overlap each other or themselves).
def last_answer_tag(text: str) -> str | None:
    """The last findall match's content, or None when there is no pair.

    The last match ends at the first </answer> after the last <answer> that has a </answer> after it (even when
    that <answer> lies inside an earlier match), and starts at the first <answer> after the </answer> before it."""
    close = text.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    last_open = text.rfind(ANSWER_OPEN, 0, close)
    if last_open < 0:
        return None
    end = text.find(ANSWER_CLOSE, last_open + len(ANSWER_OPEN))
    prev = text.rfind(ANSWER_CLOSE, 0, end)
    start = text.find(ANSWER_OPEN, prev + len(ANSWER_CLOSE) if prev >= 0 else 0)
    return text[start + len(ANSWER_OPEN):end].strip()


def single_answer_tag(text: str) -> str | None:
    """The content when findall finds exactly one pair, else None (no pair, or several)."""
    start = text.find(ANSWER_OPEN)
    if start < 0:
        return None
    end = text.find(ANSWER_CLOSE, start + len(ANSWER_OPEN))
    if end < 0:
        return None
    nxt = text.find(ANSWER_OPEN, end + len(ANSWER_CLOSE))
    if nxt >= 0 and text.find(ANSWER_CLOSE, nxt + len(ANSWER_OPEN)) >= 0:
        return None
    return text[start + len(ANSWER_OPEN):end].strip()


# ---------------------------------------------------------------------------------------------------- Video-Holmes
HOLMES_LETTERS = "ABCDEF"


def extract_holmes(text: str) -> str | None:
    """Video-Holmes ``evaluate.py``: the *last* ``<answer>`` match (the whole text when there is none; an empty
    last match stays empty), then the first letter X (A…F, in that order) with "X " / "X:" / "[X" in it, then the
    first letter (A…F order) occurring anywhere; else nothing ("WRONG").

    Quirks kept: case-sensitive ("b" is no answer); the bare-letter pass scans letters, not positions, so
    "Answer: B" → "A" (the capital A of "Answer").
    """
    last = last_answer_tag(text)
    s = text if last is None else last
    present = [x for x in HOLMES_LETTERS if x in s]          # one-character searches are nearly free
    for x in present:
        if f"{x} " in s or f"{x}:" in s or f"[{x}" in s:
            return x
    return present[0] if present else None


# -------------------------------------------------------------------------------------------------------- VideoMME
# The prefix list of the script Video-MME's README links today (thanku-all/parse_answer eval_your_results.py).
# Two missing commas join four prefixes into two that never occur in real text; kept as the script has them.
VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",   # sic: "The best option is" "The correct option is"
    "Best answer:Best option:",                  # sic: "Best answer:" "Best option:"
    "Answer:",
    "Option:",
    "The correct answer",
    "The correct option",
)


def extract_videomme(text: str) -> str | None:
    """VideoMME ``eval_your_results.py`` (the one the README links today): strip the text, delete the prefixes
    above (in order, everywhere), then the *first* capital A–D anywhere — with reasoning output often a letter of
    the reasoning. ``None`` = no A–D (the script's "", left out of its denominator).

    The script also gives up when the rest has > 10 words and no A–D; without an A–D it gives up anyway, so that
    test never changes the result and is not repeated here.
    """
    s = text.strip()
    for prefix in VIDEOMME_PREFIXES:
        if prefix[:3] in s:                 # a cheap look for the first letters before the (slower) replace
            s = s.replace(prefix, "")
    found = [(i, x) for x in "ABCD" if (i := s.find(x)) >= 0]  # = re.search("[ABCD]", s), without the regex
    return min(found)[1] if found else None


# -------------------------------------------------------------------------------------------------------- Video-R1
def video_r1_answer(output: str) -> str:
    """Video-R1 ``eval_bench.py``: the first ``<answer>`` content, or the *whole output* when there is no pair or
    the pair is empty (its ``extract_answer`` returns "" in both cases)."""
    ans = first_answer_tag(output)
    return output if not ans else ans


_NO_COMMA = {ord(","): None}


def video_r1_number(s: str) -> float | None:
    """Video-R1 ``normalize_number``: ``float`` of the text with commas removed, else None (Python's ``float``
    rules: surrounding whitespace, "1_000", "inf", "nan" and non-ASCII digits are numbers)."""
    t = s.translate(_NO_COMMA).strip()               # = s.replace(",", ""), 8x faster on comma-dense text
    if len(t) > 64 and not ((t[0] in "+-." or t[0].isdecimal()) and (t[-1] == "." or t[-1].isdecimal())):
        return None          # cannot be a float (long ones start with a sign/digit/"." and end with a digit/".")
    try:                     # ... and float()'s error message would copy the whole text
        return float(t)
    except (ValueError, TypeError):
        return None


def video_r1_score(output: str, gold: str, problem_type: str) -> float:
    """Video-R1 ``eval_bench.py`` ``reward_fn``. gold: the answer inside the row's solution tag.

    multiple choice: exact match of the stripped strings ("E." ≠ "E"). numerical: both or neither side written
    with "." or ",", then equal after rounding to 2 places. regression: mean relative accuracy in float32. Every
    other type scores 0 (the script has no rule for free-form/OCR)."""
    ans = video_r1_answer(output)
    if problem_type == "multiple choice":
        return 1.0 if ans.strip() == gold.strip() else 0.0
    if problem_type == "numerical":
        if ("." in gold or "," in gold) != ("." in ans or "," in ans):
            return 0.0
        g, o = video_r1_number(gold), video_r1_number(ans)
        if g is None or o is None:
            return 0.0
        return 1.0 if round(g, 2) == round(o, 2) else 0.0
    if problem_type == "regression":
        g, o = video_r1_number(gold), video_r1_number(ans)
        return 0.0 if g is None or o is None else mean_relative_accuracy(o, g)
    return 0.0


# θ ∈ {0.50, 0.55, …, 0.95} as float32, each computed as 0.5 + 0.05·k in double then rounded (torch.arange's rule)
MRA_THRESHOLDS = np.array([0.5 + 0.05 * k for k in range(10)], dtype=np.float32)


def mean_relative_accuracy(pred: float, gold: float) -> float:
    """Video-R1 / VSI-Bench regression score: mean over θ of 1[|pred − gold| / (|gold| + 1e-8) < 1 − θ], computed
    in float32 exactly as the official torch code (the epsilon is lost for |gold| ≳ 1, which decides exact-
    threshold cases; a value beyond float32's range becomes inf, as in torch)."""
    with np.errstate(all="ignore"):
        p, g = np.float32(pred), np.float32(gold)
        rel = np.abs(p - g) / (np.abs(g) + np.float32(1e-8))
        hits = int(np.count_nonzero(rel < (np.float32(1) - MRA_THRESHOLDS)))
    return float(np.float32(hits) / np.float32(len(MRA_THRESHOLDS)))


# -------------------------------------------------------------------------------------------- letters (strict)
_LETTER = re.compile(r"\(?([A-Z])\)?(?:[.:)]|\s|$)")


def parse_options(options: list[str]) -> dict[str, str]:
    """["A. x", "B: y", "(C) z"] → {"A": "x", "B": "y", "C": "z"} (letters as written)."""
    out = {}
    for opt in options:
        m = re.match(r"\s*\(?([A-Z])\)?\s*[.:)]\s*", opt)
        if m is None:
            raise ValueError(f"option {opt!r} does not start with a letter ('A. text'); fix the annotation")
        out[m.group(1)] = opt[m.end():].strip()
    return out


def extract_letter(answer: str) -> str | None:
    """An option letter written as "B", "B.", "(B)", "B)" or "B. text" → "B"; anything else → ``None``.
    Case-sensitive ("b" is not a letter answer); a letter inside a word ("Because") is not one."""
    m = _LETTER.match(answer.strip())
    return m.group(1) if m else None

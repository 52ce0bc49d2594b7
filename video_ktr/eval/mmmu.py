"""VideoMMMU's official answer parsing and judging (lmms-eval ``tasks/videommmu/utils.py``, the task code the
benchmark was released with), reproduced exactly and in linear time.

* multiple choice (``question_type == "multiple-choice"``): option letters by position (A, B, … for the options
  *as released*, even when an option text already starts with "A: "); candidates "X." and "X:" first, then "(X)",
  then "X ", then (responses of > 5 words) option texts; several candidates → the one found last; none → no
  answer (wrong). Its "X." → "X:" order is VideoMMMU's own (MMMU's original checks "(X)" and "X " first).
* every other row, ``question_type`` null included, is open: MMMU's key-phrase parse with VideoMMMU's 26
  answer indicators (MMMU's original has 8), all numbers in the key phrases, normalised; correct when a
  normalised gold string is contained in a predicted string or a gold number equals a predicted number.
* an empty response is *dropped* (the script's "API Error"): left out of the denominator, not wrong.
"""
from __future__ import annotations

import re

OPEN_INDICATORS = (
    "could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", "are ", "in total ", "total ",
    "identify ", "recognize ", "calculated as ", "counted as ", "measured as ", "observed as ", "concluded as ",
    "found to be ", "equals ", "determined to be ", "number of ", "value is ", "adds up to ", "have ", "has ",
)
TRIVIAL_KEYS = (":", ",", ".", "!", "?", ";", "'")
DROPPED = ("", "API Error")       # responses the official aggregation leaves out of the denominator
# Open answers are parsed on at most their last OPEN_MAX_CHARS characters. VideoMMMU generates ≤ 1,024 new tokens
# (its task config), a few KB of text; only longer (runaway or hostile) outputs are cut, and each cut is counted
# (``Judgement.capped``, the summary's "capped"). The parse costs Python work per line and per number, so an
# uncut 1 MB output could take seconds.
OPEN_MAX_CHARS = 16384


def _no_border(s: str) -> bool:
    return not any(s[:k] == s[-k:] for k in range(1, len(s)))


# With no indicator overlapping itself, ``resp.split(ind)[-1]`` is the text after the last occurrence (rfind).
assert all(_no_border(i) for i in (*OPEN_INDICATORS, "="))



def more_words_than(text: str, n: int) -> bool:
    """``len(text.split()) > n`` without splitting the whole text (the last of n + 1 pieces is the rest)."""
    return len(text.split(None, n)) > n


# ------------------------------------------------------------------------------------------------ multiple choice
def option_letters(options: list[str]) -> dict[str, str]:
    """Letter → option text by position, as the script's ``get_multi_choice_info`` (texts as released)."""
    return {chr(ord("A") + i): str(o) for i, o in enumerate(options)}


def parse_choice(response: str, index2ans: dict[str, str]) -> str | None:
    """The official ``parse_multi_choice_response``; ``None`` = "No Answer Found." (wrong). Call only for
    responses not in ``DROPPED``."""
    choices = list(index2ans)
    for ch in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(ch)
    response = " " + response + " "
    present = [c for c in choices if c in response]           # a letter absent from the text matches nothing
    period = [c for c in present if f"{c}." in response]
    colon = [c for c in present if f"{c}:" in response]
    candidates = period + colon
    bracket = False
    index_ans = True
    if not candidates:
        candidates = [c for c in present if f"({c})" in response]
        bracket = bool(candidates)
    if not candidates:
        candidates = [c for c in present if f"{c} " in response]
    if not candidates and more_words_than(response, 5):
        low = response.lower()
        candidates = [c for c, ans in index2ans.items() if ans.lower() in low]
        index_ans = not candidates
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if index_ans:
        pattern = "{}." if period else "{}:" if colon else "({})" if bracket else " {} "
        starts = [response.rfind(pattern.format(c)) for c in candidates]
    else:
        low = response.lower()
        starts = [low.rfind(index2ans[c].lower()) for c in candidates]
    return candidates[starts.index(max(starts))]                      # np.argmax: the first maximum


# ------------------------------------------------------------------------------------------------------ open
# The official number patterns, with possessive quantifiers and a "not inside a digit run" lookbehind so that a
# failed start is never retried inside the same run (same matches, linear time; tests/eval fuzz them against
# the originals: -?\b\d{1,3}(?:,\d{3})+\b | -?\d+(?:\.\d+)?[eE][+-]?\d+ |
# -?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])).
NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
NUM_SCIENTIFIC = re.compile(r"-?(?<!\d)\d++(?:\.\d++)?[eE][+-]?\d++")
NUM_SIMPLE = re.compile(r"-?(?:(?<!\d)\d++\.\d++|\.\d++|(?<!\d)\d++\b)(?![eE][+-]?\d)(?![,\d])")


def extract_numbers(text: str) -> list[str]:
    """Every number written in ``text``: with thousands commas, scientific, then plain (the official order)."""
    return NUM_COMMAS.findall(text) + NUM_SCIENTIFIC.findall(text) + NUM_SIMPLE.findall(text)


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize(s: str) -> list:
    """The official ``normalize_str``: a number → [float rounded to 2 places]; text → lower-cased, a single
    character padded with a space on either side (two variants)."""
    s = s.strip()
    if _is_number(s):
        return [round(float(s.replace(",", "")), 2)]
    s = s.lower()
    return [" " + s, s + " "] if len(s) == 1 else [s]


def _key_of_line(line: str, indicators: tuple[str, ...]) -> str | None:
    shortest = None
    for ind in indicators:
        at = line.rfind(ind)
        if at >= 0:
            cand = line[at + len(ind):].strip()
            if not shortest or len(cand) < len(shortest):    # official: `if not shortest` (an empty key is replaced)
                shortest = cand
    return shortest if shortest and shortest.strip() not in TRIVIAL_KEYS else None


def key_responses(response: str) -> list[str]:
    """The official ``get_key_subresponses``: per line (the text is lower-cased before its ". (?=[A-Z])" split,
    so only newlines split), the shortest tail after an indicator ("=" too on the last line); none → the text."""
    response = response.strip().strip(".").lower()
    lines = response.split("\n")
    last = len(lines) - 1
    # indicators absent from the whole text are absent from every line: test only the others (in list order,
    # which decides ties under the official "an empty key is replaced" rule)
    present = tuple(ind for ind in OPEN_INDICATORS if ind in response)
    keys: list[str] = []
    seen: dict[str, str | None] = {}                   # identical lines give identical keys: parse each once
    for i, line in enumerate(lines):
        if i == last:
            key = _key_of_line(line, (*present, "="))
        else:
            if line not in seen:
                seen[line] = _key_of_line(line, present) if present else None
            key = seen[line]
        if key is not None:
            keys.append(key)
    return keys or [response]


def parse_open(response: str) -> list:
    """The official ``parse_open_response`` (for a response not in ``DROPPED``): normalised key phrases and the
    numbers in them, deduplicated (order: first seen; the script returns a set — only membership matters).

    The numbers are found in one pass over the keys joined by newlines: no number pattern can match across a
    newline or see one differently from a string end, so this is the union of the per-key matches."""
    keys = list(dict.fromkeys(key_responses(response)))
    out: list = []
    for k in keys:
        out += normalize(k)
    numbers = dict.fromkeys(extract_numbers("\n".join(keys)))
    out += [round(float(n.replace(",", "")), 2) for n in numbers]     # every match is a valid float
    return list(dict.fromkeys(out))


def judge_open(gold, preds: list) -> bool:
    """The official ``eval_open``: a text gold is correct when contained in a text prediction, a number when equal
    to a predicted number. gold: a string or a list of accepted strings."""
    golds: list = []
    for g in gold if isinstance(gold, list) else [gold]:
        golds += normalize(str(g))
    for p in preds:
        if isinstance(p, str):
            if any(isinstance(g, str) and g in p for g in golds):
                return True
        elif p in golds:
            return True
    return False

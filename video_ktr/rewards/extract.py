"""Answer and number extraction from model output, in linear time and without executing anything.

Model completions are hostile input: runaway repetitions, unclosed tags, megabytes of text. Everything here is
``str.find``/``str.strip`` or a regex with no nested quantifiers, so the cost is linear in the input length.
"""
from __future__ import annotations

import math
import re

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
# Longest numeric answer we try to parse; anything longer is "unparsable" (→ 0). Real answers are a few characters.
MAX_NUMBER_CHARS = 256
# ASCII-only decimal/scientific notation after commas are removed: "12", "-0", "3.", ".5", "1e308".
# Deliberately stricter than float(): no "nan"/"inf", no "1_000", no non-ASCII digits ("١٢"), no spaces.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def extract_answer(text: str) -> str | None:
    """The stripped text inside the first ``<answer>…</answer>`` block, or None when there is none.

    Same result as ``re.search(r"<answer>\\s*(.*?)\\s*</answer>", text, re.DOTALL).group(1).strip()`` (METHOD §3):
    the first ``<answer>`` paired with the first ``</answer>`` after it; nested or repeated tags are not
    balanced. Linear time (two ``str.find`` calls).
    """
    start = text.find(ANSWER_OPEN)
    if start < 0:
        return None
    start += len(ANSWER_OPEN)
    end = text.find(ANSWER_CLOSE, start)
    if end < 0:
        return None
    return text[start:end].strip()


def solution_answer(solution: str) -> str:
    """The ground-truth answer of a ``solution`` field (``"<answer>X</answer>"`` → ``"X"``).

    A solution without answer tags is taken whole (stripped), so a bare ``"A"`` works too.
    """
    answer = extract_answer(solution)
    return solution.strip() if answer is None else answer


def parse_number(text: str) -> float | None:
    """A finite float from a strictly validated numeric string (commas removed), else None.

    Never ``eval``/``sympify``: ``float()`` is only called on strings that fully match ``_NUMBER_RE``. Overflow to
    inf (``"1e999"``) and strings longer than ``MAX_NUMBER_CHARS`` give None.
    """
    if len(text) > MAX_NUMBER_CHARS:
        return None
    text = text.strip().replace(",", "")
    if _NUMBER_RE.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None

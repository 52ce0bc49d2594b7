"""The format reward: does the completion have exactly the ``<think>…</think> <answer>…</answer>`` shape?"""
from __future__ import annotations

import re

from video_ktr.rewards.extract import ANSWER_CLOSE, ANSWER_OPEN

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_JOINT_RE = re.compile(r"</think>\s*<answer>")


def is_well_formatted(text: str) -> bool:
    """True iff ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)`` would match.

    Linear time, without that regex (its lazy ``.*?`` backtracks quadratically on hostile input): the text must
    start with ``<think>`` and end with ``</answer>``, and the part in between must contain ``</think>``, then only
    whitespace, then ``<answer>`` (what comes before and after that joint is free).
    """
    head, tail = len(THINK_OPEN), len(ANSWER_CLOSE)
    if len(text) < head + len(THINK_CLOSE) + len(ANSWER_OPEN) + tail:
        return False
    if not (text.startswith(THINK_OPEN) and text.endswith(ANSWER_CLOSE)):
        return False
    # Linear: the search only tries positions where "</think>" matches, and the whitespace runs after different
    # "</think>" occurrences are disjoint, so backtracking over \s* visits each character O(1) times.
    return _JOINT_RE.search(text, head, len(text) - tail) is not None


def format_reward(completions: list[str]) -> list[float]:
    """1.0 for each completion with the full ``<think>…</think>\\s*<answer>…</answer>`` shape, else 0.0."""
    return [1.0 if is_well_formatted(c) else 0.0 for c in completions]

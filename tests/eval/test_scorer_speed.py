"""Every scorer runs in linear time: < 50 ms on 1 MB hostile outputs (best of 3), and the number scanner returns
what the official (backtracking) patterns return.

Times are CPU seconds of this process (``time.process_time``): the bound is on our code, not on a busy CI machine."""
from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from video_ktr.eval import mmmu
from video_ktr.eval.items import EvalItem
from video_ktr.eval.scorers import SCORERS

MB = 1 << 20
HOSTILE = {
    "open tags": "<answer>" * (MB // 8),
    "tag pairs": "<answer>A</answer>" * (MB // 18),
    "open tag + spaces": "<answer>" + " " * MB + "x",
    "digits": "1" * MB,
    "digits and dots": "1." * (MB // 2),
    "digit runs + e": ("9" * 1000 + "e") * (MB // 1001),
    "commas": "1," * (MB // 2),
    "indicator lines": "so \n" * (MB // 4),
    "distinct indicator lines": "".join(f"is {i}\n" for i in range(MB // 10)),
    "indicators": "is " * (MB // 3),
    "letters": "(A) B. C: D " * (MB // 12),
    "words": "the answer " * (MB // 11),
    "newlines": "\n" * MB,
    "mixed": "<answer>1.5e3 is (B) so 2,500</answer" * (MB // 38),
}


def items() -> list[EvalItem]:
    mc = EvalItem(id="q", question="?", options=[f"{c}. option {c}" for c in "ABCDEF"], answer="B",
                  problem_type="multiple choice", data_type="video", media_path=Path("v.mp4"),
                  extra={"question_type": "multiple-choice"})
    op = EvalItem(id="q", question="?", options=[], answer="42", problem_type="regression", data_type="video",
                  media_path=Path("v.mp4"), extra={"question_type": None})
    num = EvalItem(id="q", question="?", options=[], answer="42", problem_type="numerical", data_type="video",
                   media_path=Path("v.mp4"))
    return [mc, op, num]


def best_of_3(fn) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()               # CPU time of this process: other sessions' load does not count
        fn()
        best = min(best, time.process_time() - t0)
    return best


@pytest.mark.parametrize("scorer", SCORERS.names())
def test_scorer_linear_on_1mb_hostile_output(scorer):
    """Best of 3 under 50 ms of process CPU time. A case over the limit is measured again (up to 3
    more best-of-3 rounds): noise passes on a retry, a quadratic scorer (seconds on 1 MB) never does."""
    s = SCORERS.get(scorer)
    slow = {}
    for name, text in HOSTILE.items():
        for it in items():
            for _ in range(4):
                best = best_of_3(lambda: s.judge(text, it))
                if best < 0.05:
                    break
            else:
                slow[f"{name}/{it.problem_type}"] = round(best * 1000, 1)
    assert not slow, f"{scorer}: over 50 ms (ms): {slow}"


# The official patterns (the rule we implement; used here only as the oracle on short strings).
OFFICIAL = (r"-?\b\d{1,3}(?:,\d{3})+\b", r"-?\d+(?:\.\d+)?[eE][+-]?\d+",
            r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def test_number_scanner_equals_official_patterns():
    rng = random.Random(0)
    alphabet = "0123456789.,eE+- a_x\n٣"
    for _ in range(30000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        want = [x for p in OFFICIAL for x in re.findall(p, s)]
        assert mmmu.extract_numbers(s) == want, s


def test_answer_tag_helpers_equal_the_official_regex():
    from video_ktr.eval.extract import first_answer_tag, last_answer_tag, single_answer_tag

    pattern = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)       # the official scripts' pattern
    rng = random.Random(1)
    pieces = ["<answer>", "</answer>", "A", "B ", " ", "\n", "<", "/answer>", "<answer", "\u00a0"]
    for _ in range(30000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        found = pattern.findall(s)
        assert last_answer_tag(s) == (found[-1] if found else None), s
        assert single_answer_tag(s) == (found[0] if len(found) == 1 else None), s
        m = pattern.search(s)
        assert first_answer_tag(s) == (m.group(1) if m else None), s

"""Every reward returns a finite float in its range, fast, for any string — including hostile model output."""
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from video_ktr.rewards import PROBLEM_TYPES, accuracy_reward, compute_rewards, format_reward

TIME_LIMIT_S = 0.05  # CPU seconds per completion, all problem types + format; measured worst case is ~15 ms
# (process_time, not wall time: the bound is on our code, not on how busy the CI machine is)
MB = 10**6

HOSTILE = {
    "empty": "",
    "think_repeated": "<think>" * (MB // 7),
    "answer_repeated": "<answer>" * (MB // 8),
    "answer_repeated_closed": "<answer>" * (MB // 8 - 2) + "</answer>",
    "think_then_spaces": "<think>a</think>" + " " * MB,
    "think_spaces_answer": "<think>a</think>" + " " * MB + "<answer>x</answer>",
    "many_joints": "<think>" + "</think> <answer>" * (MB // 17) + "x</answer>",
    "many_answers_no_joint": "<think>" + " <answer>" * (MB // 9) + "</answer>",
    "nested": "<answer><answer>" * (MB // 16) + "</answer></answer>" * 10,
    "words_1mb": "<think>a</think><answer>" + "running cats jumping " * (MB // 21) + "</answer>",
    "short_words_1mb": "<answer>" + "a " * (MB // 2) + "</answer>",
    "digits_1mb": "<answer>" + "1" * MB + "</answer>",
    "digits_dot_1mb": "<answer>" + "1" * MB + ".5</answer>",
    "whitespace_1mb": "<answer>" + " " * MB + "x" + " " * MB + "</answer>",
    "arabic_digits": "<answer>" + "١٢٣ " * (MB // 4) + "</answer>",
    "text_1mb": "x" * MB,
}
SOLUTIONS = {
    "multiple choice": "<answer>A</answer>",
    "numerical": "<answer>12.5</answer>",
    "OCR": "<answer>" + "the quick brown fox jumps over the lazy dog " * 40 + "</answer>",
    "free-form": "<answer>" + "running cats jump over the lazy dog " * 40 + "</answer>",
    "regression": "<answer>3</answer>",
}


def _check_range(values):
    for v in values:
        assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0, v


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_1mb_completion_is_fast_and_in_range(name):
    completion = HOSTILE[name]
    for problem_type in PROBLEM_TYPES:
        timings = []
        for _ in range(3):   # best of 3: the bound is on our code, not on a busy CI core
            t0 = time.process_time()
            acc = accuracy_reward([completion], [SOLUTIONS[problem_type]], [problem_type])
            fmt = format_reward([completion])
            timings.append(time.process_time() - t0)
        _check_range(acc + fmt)
        assert min(timings) < TIME_LIMIT_S, (name, problem_type, timings)


def test_hostile_as_solution_too():
    # a hostile (huge) reference must not blow up either: both sides are capped
    huge = HOSTILE["words_1mb"]
    for problem_type in PROBLEM_TYPES:
        t0 = time.process_time()
        _check_range(accuracy_reward([huge], [huge], [problem_type]))
        assert time.process_time() - t0 < 4 * TIME_LIMIT_S


ATOMS = [
    "<think>", "</think>", "<answer>", "</answer>", "A", "A.", "(A)", "nan", "inf", "-inf", "1e308", "1e309", "-0",
    "1,000", "1,000.5", "3.14", ".", ",", "١٢", "٣.٥", "1_000", "0x1F", "__import__('os')", " ", "\n", "\t", "\u3000",
    "e", "-", "+", "0", "9", "the", "running", "猫", "\x00", "\ud7ff", "<", ">",
]
hostile_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(ATOMS), max_size=30).map("".join),
    st.lists(st.one_of(st.sampled_from(ATOMS), st.text(max_size=5)), max_size=20).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completion=hostile_text, solution=hostile_text, problem_type=st.sampled_from(PROBLEM_TYPES),
       wrap_solution=st.booleans())
def test_property_range_finiteness_time(completion, solution, problem_type, wrap_solution):
    if wrap_solution:
        solution = f"<answer>{solution}</answer>"
    t0 = time.process_time()
    acc = accuracy_reward([completion], [solution], [problem_type])
    fmt = format_reward([completion])
    assert time.process_time() - t0 < TIME_LIMIT_S
    _check_range(acc + fmt)


@settings(max_examples=100, deadline=None)
@given(st.lists(hostile_text, min_size=2, max_size=2), st.lists(st.integers(0, 10**6), min_size=2, max_size=2))
def test_property_compute_rewards_total_is_finite(completions, lengths):
    fields = {"solution": ["<answer>A</answer>"] * 2, "problem_type": ["multiple choice"] * 2}
    out = compute_rewards(["accuracy", "format", "length"], [1.0, 1.0, 1.0], completions, fields,
                          completion_lengths=lengths, group_size=2)
    assert all(math.isfinite(t) and 0.0 <= t <= 2.2 for t in out.total)

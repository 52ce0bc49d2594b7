"""Format reward: same verdict as the reference full-match regex, in linear time."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_ktr.rewards import format_reward, is_well_formatted

REFERENCE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>a</think><answer>b</answer>", 1.0),
        ("<think>a</think>\n \t<answer>b</answer>", 1.0),
        ("<think></think><answer></answer>", 1.0),
        ("<think>x</think>y</think> <answer>z</answer>", 1.0),          # the think part may contain </think>
        ("<think>a</think>x<answer>b</answer>", 0.0),                  # text between the blocks
        ("<think>a</think><answer>b</answer>\n", 0.0),                 # trailing newline: not a full match
        (" <think>a</think><answer>b</answer>", 0.0),
        ("<answer>b</answer>", 0.0),
        ("<think>a</think>", 0.0),
        ("<think>a<answer>b</answer>", 0.0),
        ("<think>a</think><answer>b", 0.0),
        ("", 0.0),
        ("<think></answer>", 0.0),
        ("<think>a</think>\u3000<answer>b</answer>", 1.0),              # Unicode whitespace counts as \s
    ],
)
def test_format_examples(text, expected):
    assert format_reward([text]) == [expected]
    assert bool(REFERENCE.fullmatch(text)) == bool(expected)


PIECES = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\u3000", "\x1c", "a", "<", ">", "/"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_format_agrees_with_reference_regex(pieces):
    text = "".join(pieces)
    assert is_well_formatted(text) == bool(REFERENCE.fullmatch(text))

"""REWARDS registry, config checks, compute_rewards combination and user-defined rewards."""
import math

import pytest

from video_ktr.registry import Registry
from video_ktr.rewards import REWARDS, RewardOutput, check_reward_config, compute_rewards

COMPLETIONS = [
    "<think>a</think><answer>A</answer>",       # right, well formatted
    "<answer>A</answer>",                       # right, bad format
    "<think>a</think><answer>B</answer>",       # wrong, well formatted
    "nothing",                                  # wrong, bad format
]
FIELDS = {
    "solution": ["<answer>A</answer>"] * 4,
    "problem_type": ["multiple choice"] * 4,
    "problem_id": [7, 7, 8, 8],
}


def test_builtin_names():
    assert isinstance(REWARDS, Registry)
    assert {"accuracy", "format", "length"} <= set(REWARDS.names())


@pytest.mark.parametrize("name", REWARDS.names())
def test_every_reward_returns_one_finite_value_per_completion(name):
    out = compute_rewards([name], None, COMPLETIONS, FIELDS, completion_lengths=[400] * 4, group_size=2)
    values = out.per_reward[name]
    assert len(values) == 4 and all(math.isfinite(v) for v in values)
    assert all(math.isfinite(t) for t in out.total)


def test_weighted_total_and_per_reward():
    out = compute_rewards(["accuracy", "format"], [1.0, 0.5], COMPLETIONS, FIELDS)
    assert isinstance(out, RewardOutput)
    assert out.per_reward == {"accuracy": [1.0, 1.0, 0.0, 0.0], "format": [1.0, 0.0, 1.0, 0.0]}
    assert out.total == [1.5, 1.0, 0.5, 0.0]
    # fields may also be passed as keyword lists
    out2 = compute_rewards(["accuracy", "format"], [1.0, 0.5], COMPLETIONS, **FIELDS)
    assert out2 == out


def test_unknown_and_duplicate_names():
    with pytest.raises(KeyError, match=r"unknown reward 'acuracy'; known: \['accuracy', 'format'"):
        check_reward_config(["acuracy"])
    with pytest.raises(KeyError, match="unknown reward"):
        compute_rewards(["accuracy", "nope"], None, COMPLETIONS, FIELDS)
    with pytest.raises(ValueError, match="names a reward twice"):
        check_reward_config(["accuracy", "accuracy"])
    with pytest.raises(KeyError, match="already registered"):
        REWARDS.register("accuracy")(lambda completions, **_: [0.0] * len(completions))
    with pytest.raises(ValueError, match="is empty"):
        check_reward_config([])


def test_config_checks():
    assert check_reward_config(["accuracy", "format"]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="has 1 values for 2 rewards"):
        check_reward_config(["accuracy", "format"], [1.0])
    with pytest.raises(ValueError, match="finite"):
        check_reward_config(["accuracy"], [float("nan")])
    with pytest.raises(ValueError, match=r"no hyperparameter\(s\) \['bonuss'\]; known: \['bonus'"):
        check_reward_config(["length"], reward_kwargs={"length": {"bonuss": 1.0}})
    with pytest.raises(ValueError, match="not in reward.rewards"):
        check_reward_config(["accuracy"], reward_kwargs={"length": {"bonus": 1.0}})
    check_reward_config(["length"], reward_kwargs={"length": {"bonus": 1.0, "min_length": 0}})


def test_reward_kwargs_reach_the_reward():
    out = compute_rewards(
        ["length"], None, COMPLETIONS, FIELDS, completion_lengths=[10, 10, 10, 10], group_size=4,
        reward_kwargs={"length": {"bonus": 1.0, "min_length": 5, "max_length": 20}},
    )
    assert out.per_reward["length"] == [1.0, 1.0, 0.0, 0.0]


def test_missing_fields_are_clear_errors():
    with pytest.raises(KeyError, match=r"reward 'accuracy' needs field\(s\) \['problem_type'\]"):
        compute_rewards(["accuracy"], None, COMPLETIONS, {"solution": FIELDS["solution"]})
    with pytest.raises(KeyError, match=r"\['group'\] \(pass group_size=G\)"):
        compute_rewards(["length"], None, COMPLETIONS, FIELDS, completion_lengths=[1] * 4)
    with pytest.raises(ValueError, match="field 'solution' has 1 values for 4 completions"):
        compute_rewards(["accuracy"], None, COMPLETIONS, {**FIELDS, "solution": ["A"]})
    with pytest.raises(ValueError, match="group_size=3 must be a positive divisor"):
        compute_rewards(["format"], None, COMPLETIONS, FIELDS, group_size=3)


@pytest.fixture
def custom_reward():
    """Register a user-defined reward for one test, then remove it."""

    def keyword(completions, *, problem_id, word="because", **_):
        # None where not applicable: only problem 7 is about causes
        return [float(word in c) if pid == 7 else None for c, pid in zip(completions, problem_id)]

    REWARDS.register("keyword")(keyword)
    yield keyword
    REWARDS._items.pop("keyword")


def test_custom_reward_plugin_and_none_semantics(custom_reward):
    completions = ["<answer>A</answer> because", "<answer>A</answer>", "because", "x"]
    out = compute_rewards(["accuracy", "keyword"], [1.0, 2.0], completions, FIELDS)
    k = out.per_reward["keyword"]
    assert k[:2] == [1.0, 0.0] and math.isnan(k[2]) and math.isnan(k[3])   # None → NaN for logging
    assert out.total == [3.0, 1.0, 0.0, 0.0]                                 # None contributes nothing
    check_reward_config(["keyword"], reward_kwargs={"keyword": {"word": "so"}})
    out = compute_rewards(["keyword"], None, ["so", "x", "so", "so"], FIELDS, reward_kwargs={"keyword": {"word": "so"}})
    assert out.per_reward["keyword"][:2] == [1.0, 0.0]


def test_bad_custom_rewards_fail_loudly():
    def wrong_count(completions, **_):
        return [1.0]

    def non_finite(completions, **_):
        return [float("inf")] * len(completions)

    def raises(completions, **_):
        raise RuntimeError("boom")

    for name, fn in [("wrong_count", wrong_count), ("non_finite", non_finite), ("raises", raises)]:
        REWARDS.register(name)(fn)
    try:
        with pytest.raises(ValueError, match="returned 1 values for 4 completions"):
            compute_rewards(["wrong_count"], None, COMPLETIONS, FIELDS)
        with pytest.raises(ValueError, match="returned inf for completion 0"):
            compute_rewards(["non_finite"], None, COMPLETIONS, FIELDS)
        with pytest.raises(RuntimeError, match="boom") as info:                # never a silent 0
            compute_rewards(["raises"], None, COMPLETIONS, FIELDS)
        assert "while computing reward 'raises'" in info.value.__notes__
    finally:
        for name in ("wrong_count", "non_finite", "raises"):
            REWARDS._items.pop(name)

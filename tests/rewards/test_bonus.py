"""Length bonus (true completion length) and T-GRPO temporal bonus (METHOD §2)."""
import pytest

from video_ktr.rewards import compute_rewards, length_bonus, length_bonus_by_group, temporal_bonus


def test_length_bonus_rules():
    # one group of 4: three correct (> 0.1), lengths straddle the [320, 512] window (inclusive)
    acc = [1.0, 1.0, 1.0, 0.0]
    lengths = [320, 512, 513, 400]
    assert length_bonus(acc, lengths) == [0.2, 0.2, 0.0, 0.0]  # 513 outside; the wrong one gets nothing


def test_length_bonus_needs_more_than_one_correct_in_the_group():
    acc = [1.0, 0.0, 1.0, 1.0]           # group 0: one correct → no bonus; group 1: two correct
    lengths = [400, 400, 400, 100]
    assert length_bonus(acc, lengths, group_size=2) == [0.0, 0.0, 0.2, 0.0]


def test_length_bonus_is_configurable():
    acc = [0.5, 0.5, 0.05]
    out = length_bonus(acc, [10, 20, 15], bonus=1.0, min_length=10, max_length=15, min_correct=1)
    assert out == [1.0, 0.0, 0.0]  # 20 out of window; 0.05 not correct (threshold 0.1)
    assert length_bonus(acc, [10, 10, 10], min_length=0, correct_threshold=0.6) == [0.0, 0.0, 0.0]


def test_length_bonus_uses_true_length_not_key_token_count():
    # The reference bug counted the key-token mask (~49 % of tokens). A 600-token completion with 294 key tokens
    # must NOT get the bonus; a 400-token one with 196 key tokens must.
    acc = [1.0, 1.0]
    out = compute_rewards(
        ["length"], None, ["<answer>A</answer>"] * 2, {"solution": ["A", "A"], "problem_type": ["multiple choice"] * 2},
        completion_lengths=[600, 400], group_size=2,
    )
    assert out.per_reward["length"] == [0.0, 0.2]
    assert length_bonus(acc, [600, 400]) == [0.0, 0.2]


def test_length_bonus_by_group_ids_need_not_be_contiguous():
    assert length_bonus_by_group([1, 1, 1, 0], [400] * 4, ["p", "q", "p", "q"]) == [0.2, 0.0, 0.2, 0.0]


def test_length_bonus_errors():
    with pytest.raises(ValueError, match="group_size=3 must be a positive divisor"):
        length_bonus([1.0] * 4, [400] * 4, group_size=3)
    with pytest.raises(ValueError, match="min_length=600 > max_length=512"):
        length_bonus([1.0], [1], min_length=600)
    with pytest.raises(ValueError, match="2 accuracies but 1 completion_lengths"):
        length_bonus([1.0, 1.0], [1])


def test_temporal_bonus_ordered_better_than_shuffled():
    # mean ordered 0.5 ≥ 0.8 × mean shuffled 0.5 → +0.3 to completions with accuracy > 0.1
    assert temporal_bonus([1.0, 0.0, 1.0, 0.0], [1.0, 0.0]) == [0.3, 0.0, 0.3, 0.0]


def test_temporal_bonus_threshold_is_inclusive_and_ratio_configurable():
    # ordered mean 0.4, shuffled mean 0.5: 0.4 ≥ 0.8 × 0.5 = 0.4 → bonus (≥)
    assert temporal_bonus([0.8, 0.0], [0.5, 0.5]) == [0.3, 0.0]
    assert temporal_bonus([0.8, 0.0], [0.5, 0.5], ratio=0.9) == [0.0, 0.0]     # 0.4 < 0.45
    assert temporal_bonus([0.8, 0.05], [0.0], bonus=1.0, min_accuracy=0.01) == [1.0, 1.0]


def test_temporal_bonus_none_when_shuffled_wins_and_per_group():
    # group 0: ordered 0.25 < 0.8 × 1.0 → none; group 1: ordered 1.0 ≥ 0 → bonus
    out = temporal_bonus([0.5, 0.0, 1.0, 1.0], [1.0, 0.0], group_size=2)
    assert out == [0.0, 0.0, 0.3, 0.3]


def test_temporal_bonus_no_correct_completion_no_bonus():
    assert temporal_bonus([0.0, 0.05], [0.0]) == [0.0, 0.0]   # 0 ≥ 0 holds but nobody has accuracy > 0.1
    assert temporal_bonus([], [1.0]) == []


def test_temporal_bonus_errors():
    with pytest.raises(ValueError, match="cannot be split into the 2 prompt groups"):
        temporal_bonus([1.0] * 4, [1.0] * 3, group_size=2)
    with pytest.raises(ValueError, match="positive divisor"):
        temporal_bonus([1.0] * 4, [1.0] * 2, group_size=0)

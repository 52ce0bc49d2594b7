"""Group-level bonuses added on top of the accuracy reward (METHOD.md §2): the length bonus and T-GRPO's
temporal bonus. Both work per prompt group: ``N = B*G`` values ordered prompt-major, ``group_size = G``.
"""
from __future__ import annotations

from typing import Sequence


def _groups(n: int, group_size: int | None, what: str) -> int:
    """Number of groups B for ``n`` values; ``group_size=None`` means one group."""
    g = n if group_size is None else group_size
    if n == 0:
        return 0
    if g <= 0 or n % g:
        raise ValueError(
            f"{what}: group_size={group_size} must be a positive divisor of the number of completions {n}; "
            "completions are ordered prompt-major, G per prompt"
        )
    return n // g


def length_bonus(
    accuracies: Sequence[float],
    completion_lengths: Sequence[int],
    *,
    group_size: int | None = None,
    bonus: float = 0.2,
    min_length: int = 320,
    max_length: int = 512,
    min_correct: int = 2,
    correct_threshold: float = 0.1,
) -> list[float]:
    """Per-completion length bonus: ``bonus`` when the completion is correct (accuracy > ``correct_threshold``),
    at least ``min_correct`` completions of its group are correct, and ``min_length ≤ length ≤ max_length``.

    ``completion_lengths`` is the TRUE completion length in tokens (completion-mask sum: tokens up to and including
    the first EOS) — not the number of key tokens, which is the reference code's bug. Returns (N,) floats in
    {0, bonus}.
    """
    n = len(accuracies)
    if len(completion_lengths) != n:
        raise ValueError(f"length_bonus: {n} accuracies but {len(completion_lengths)} completion_lengths")
    num_groups = _groups(n, group_size, "length_bonus")
    g = n // num_groups if num_groups else 0
    return length_bonus_by_group(
        accuracies, completion_lengths, [i // g for i in range(n)], bonus=bonus, min_length=min_length,
        max_length=max_length, min_correct=min_correct, correct_threshold=correct_threshold,
    )


def length_bonus_by_group(
    accuracies: Sequence[float],
    completion_lengths: Sequence[int],
    groups: Sequence[object],
    *,
    bonus: float = 0.2,
    min_length: int = 320,
    max_length: int = 512,
    min_correct: int = 2,
    correct_threshold: float = 0.1,
) -> list[float]:
    """``length_bonus`` with an explicit group id per completion (any hashable; groups need not be contiguous)."""
    if not len(accuracies) == len(completion_lengths) == len(groups):
        raise ValueError(
            f"length_bonus: need one accuracy, length and group per completion, got {len(accuracies)}, "
            f"{len(completion_lengths)}, {len(groups)}"
        )
    if min_length > max_length:
        raise ValueError(f"length_bonus: min_length={min_length} > max_length={max_length}; the window is empty")
    is_correct = [a > correct_threshold for a in accuracies]
    num_correct: dict[object, int] = {}
    for grp, ok in zip(groups, is_correct):
        num_correct[grp] = num_correct.get(grp, 0) + ok
    return [
        bonus if ok and num_correct[grp] >= min_correct and min_length <= length <= max_length else 0.0
        for ok, length, grp in zip(is_correct, completion_lengths, groups)
    ]


def temporal_bonus(
    acc_ordered: Sequence[float],
    acc_shuffled: Sequence[float],
    *,
    group_size: int | None = None,
    ratio: float = 0.8,
    bonus: float = 0.3,
    min_accuracy: float = 0.1,
) -> list[float]:
    """T-GRPO temporal bonus for the ordered-frame completions (Video-R1; METHOD §2).

    Per prompt group: if mean(acc_ordered) ≥ ``ratio`` × mean(acc_shuffled), every ordered completion with
    accuracy > ``min_accuracy`` gets ``bonus``; otherwise nothing. ``acc_ordered`` is (B*G,) with ``group_size=G``;
    ``acc_shuffled`` is (B*G',) for the extra rollouts on shuffled frames (G' = G/2 in the reference), grouped
    the same way (G' is inferred from the lengths). ``group_size=None`` means one group. Returns (B*G,) floats.
    """
    n = len(acc_ordered)
    num_groups = _groups(n, group_size, "temporal_bonus")
    if num_groups == 0:
        return []
    if len(acc_shuffled) == 0 or len(acc_shuffled) % num_groups:
        raise ValueError(
            f"temporal_bonus: {len(acc_shuffled)} shuffled accuracies cannot be split into the {num_groups} prompt "
            "groups of the ordered completions; pass the same number of shuffled rollouts for every prompt"
        )
    g, gs = n // num_groups, len(acc_shuffled) // num_groups
    out = [0.0] * n
    for b in range(num_groups):
        ordered = acc_ordered[b * g : (b + 1) * g]
        shuffled = acc_shuffled[b * gs : (b + 1) * gs]
        if sum(ordered) / g >= ratio * (sum(shuffled) / gs):
            for j, a in enumerate(ordered):
                if a > min_accuracy:
                    out[b * g + j] = bonus
    return out

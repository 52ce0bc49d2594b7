"""The reward registry: configs name rewards and weights, the trainer gets each reward's values and the total.

A reward function (built-in or user-defined) has ONE signature::

    def my_reward(completions: list[str], *, <fields it needs>, <hyperparameters with defaults>, **_) -> list[float | None]

* ``completions``: the N = B*G decoded completions (text only, prompt excluded).
* fields: keyword lists of length N, one value per completion — every field of the completion's data record
  (``solution``, ``problem_type``, ``problem_id``, ``data_type``, ``options``, …) plus, from ``compute_rewards``,
  ``completion_length`` (true completion length in tokens) and ``group`` (prompt-group index, given
  ``group_size``). Declare the fields you need as keyword-only parameters WITHOUT defaults; missing ones are a
  clear error. Keep ``**_`` so fields you do not use are ignored.
* hyperparameters: keyword-only parameters WITH defaults; set them from the config (``reward_kwargs``).
* return: one finite float per completion, or ``None`` where the reward does not apply (e.g. no ground truth).

Combination (``compute_rewards``): ``total_i = Σ_k weight_k · value_k,i`` over the rewards that apply to
completion i (``None`` contributes nothing; it is neither 0-weighted-renormalised nor an error). Per-reward values
are returned separately, with ``None`` stored as NaN so the trainer can log ``nanmean``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from video_ktr.registry import Registry
from video_ktr.rewards.accuracy import accuracy_reward
from video_ktr.rewards.bonus import length_bonus_by_group
from video_ktr.rewards.format import format_reward

RewardFn = Callable[..., list]  # (completions: list[str], **fields: list) -> list[float | None]
REWARDS: Registry[RewardFn] = Registry("reward")


@REWARDS.register("accuracy")
def accuracy(completions: list[str], *, solution: list[str], problem_type: list[str], **_: Any) -> list[float]:
    """Accuracy by ``problem_type`` (METHOD §3), in [0, 1]."""
    return accuracy_reward(completions, solution, problem_type)


@REWARDS.register("format")
def format_(completions: list[str], **_: Any) -> list[float]:
    """1 if the completion is ``<think>…</think>\\s*<answer>…</answer>``, else 0."""
    return format_reward(completions)


@REWARDS.register("length")
def length(
    completions: list[str],
    *,
    solution: list[str],
    problem_type: list[str],
    completion_length: list[int],
    group: list[int],
    bonus: float = 0.2,
    min_length: int = 320,
    max_length: int = 512,
    min_correct: int = 2,
    correct_threshold: float = 0.1,
    **_: Any,
) -> list[float]:
    """Length bonus (METHOD §2) in {0, bonus}: correct, ≥ ``min_correct`` correct in the group, and
    ``min_length ≤ completion_length ≤ max_length`` (true length in tokens). Needs ``group_size`` in compute_rewards."""
    acc = accuracy_reward(completions, solution, problem_type)
    return length_bonus_by_group(
        acc, completion_length, group, bonus=bonus, min_length=min_length, max_length=max_length,
        min_correct=min_correct, correct_threshold=correct_threshold,
    )


@dataclass
class RewardOutput:
    """Rewards of N completions. ``total``: (N,) finite floats. ``per_reward``: name → (N,) floats, NaN = None."""

    total: list[float]
    per_reward: dict[str, list[float]]


def _params(fn: RewardFn) -> tuple[set[str], set[str]]:
    """(required keyword-only fields, hyperparameters = keyword-only params with defaults) of a reward function."""
    params = inspect.signature(fn).parameters.values()
    kw_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    required = {p.name for p in kw_only if p.default is inspect.Parameter.empty}
    return required, {p.name for p in kw_only if p.default is not inspect.Parameter.empty}


def check_reward_config(
    names: Sequence[str],
    weights: Sequence[float] | None = None,
    reward_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[float]:
    """Validate a reward config at build time; returns the weights (all 1.0 when ``weights`` is None).

    Raises ``KeyError`` for an unknown reward name (listing the known ones) and ``ValueError`` for duplicate names,
    a weight count mismatch, a non-finite weight, or ``reward_kwargs`` naming an unused reward or an unknown
    hyperparameter.
    """
    names = list(names)
    if not names:
        raise ValueError(f"reward.rewards is empty; pick at least one of {REWARDS.names()}")
    for name in names:
        REWARDS.get(name)  # KeyError: unknown reward 'x'; known: [...]
    if len(set(names)) != len(names):
        raise ValueError(f"reward.rewards={names} names a reward twice; weight it with reward.reward_weights instead")
    if weights is None:
        weights = [1.0] * len(names)
    weights = [float(w) for w in weights]
    if len(weights) != len(names):
        raise ValueError(
            f"reward.reward_weights has {len(weights)} values for {len(names)} rewards {names}; give one weight each"
        )
    if not all(math.isfinite(w) for w in weights):
        raise ValueError(f"reward.reward_weights={weights} must be finite numbers")
    for name, kwargs in (reward_kwargs or {}).items():
        if name not in names:
            raise ValueError(f"reward.reward_kwargs sets {name!r}, which is not in reward.rewards={names}")
        _, hparams = _params(REWARDS.get(name))
        unknown = sorted(set(kwargs) - hparams)
        if unknown:
            raise ValueError(f"reward {name!r} has no hyperparameter(s) {unknown}; known: {sorted(hparams)}")
    return weights


def compute_rewards(
    names: Sequence[str],
    weights: Sequence[float] | None,
    completions: list[str],
    records_fields: Mapping[str, Sequence[Any]] | None = None,
    completion_lengths: Sequence[int] | None = None,
    *,
    group_size: int | None = None,
    reward_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    **fields: Sequence[Any],
) -> RewardOutput:
    """Run the named rewards on N completions and combine them (see the module docstring).

    Fields come from ``records_fields`` (a dict) and/or ``**fields`` (keyword lists, e.g. ``solution=[...]``),
    each of length N. ``completion_lengths`` (true token counts) is passed on as the ``completion_length`` field;
    ``group_size`` = G adds the ``group`` field (``i // G``). Exceptions raised by a reward propagate (with a note
    naming it) — they are never turned into a silent 0.
    """
    weights = check_reward_config(names, weights, reward_kwargs)
    n = len(completions)
    all_fields: dict[str, list] = {**{k: list(v) for k, v in (records_fields or {}).items()}}
    all_fields.update({k: list(v) for k, v in fields.items()})
    if completion_lengths is not None:
        all_fields["completion_length"] = list(completion_lengths)
    if group_size is not None:
        if group_size <= 0 or n % group_size:
            raise ValueError(f"group_size={group_size} must be a positive divisor of the {n} completions")
        all_fields.setdefault("group", [i // group_size for i in range(n)])
    for key, values in all_fields.items():
        if len(values) != n:
            raise ValueError(f"field {key!r} has {len(values)} values for {n} completions; give one per completion")

    per_reward: dict[str, list[float]] = {}
    total = [0.0] * n
    for name, weight in zip(names, weights):
        fn = REWARDS.get(name)
        required, _ = _params(fn)
        missing = sorted(required - set(all_fields))
        if missing:
            hint = " (pass group_size=G)" if "group" in missing else ""
            raise KeyError(f"reward {name!r} needs field(s) {missing}{hint}; available: {sorted(all_fields)}")
        try:
            values = fn(completions, **all_fields, **dict((reward_kwargs or {}).get(name, {})))
        except Exception as err:
            err.add_note(f"while computing reward {name!r}")
            raise
        per_reward[name] = _check_values(name, values, n)
        for i, v in enumerate(values):
            if v is not None:
                total[i] += weight * float(v)
    return RewardOutput(total=total, per_reward=per_reward)


def _check_values(name: str, values: Sequence[float | None], n: int) -> list[float]:
    """Values as floats (None → NaN); raises if the reward returned the wrong count or a non-finite number."""
    if len(values) != n:
        raise ValueError(f"reward {name!r} returned {len(values)} values for {n} completions; return one each")
    out = []
    for i, v in enumerate(values):
        if v is None:
            out.append(math.nan)
            continue
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"reward {name!r} returned {v} for completion {i}; return a finite float or None")
        out.append(v)
    return out

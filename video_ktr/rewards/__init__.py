"""Rewards (METHOD.md §2–3): answer extraction, accuracy by problem type, format, length and temporal bonuses,
and the ``REWARDS`` registry that configs name (``reward.rewards: [accuracy, format]``, ``reward.reward_weights``).

All rewards are pure functions of strings, linear-time on hostile input, and never execute model output.
"""
from video_ktr.rewards.accuracy import (
    ACCURACY_SCORERS,
    MAX_TEXT_ANSWER_CHARS,
    accuracy_reward,
    accuracy_score,
    validate_problem_type,
    validate_problem_types,
)
from video_ktr.rewards.bonus import length_bonus, length_bonus_by_group, temporal_bonus
from video_ktr.rewards.extract import extract_answer, parse_number, solution_answer
from video_ktr.rewards.format import format_reward, is_well_formatted
from video_ktr.rewards.registry import REWARDS, RewardFn, RewardOutput, check_reward_config, compute_rewards

PROBLEM_TYPES = tuple(ACCURACY_SCORERS.names())  # built-in problem types (more can be registered)

__all__ = [
    "ACCURACY_SCORERS", "MAX_TEXT_ANSWER_CHARS", "PROBLEM_TYPES", "REWARDS", "RewardFn", "RewardOutput",
    "accuracy_reward", "accuracy_score", "check_reward_config", "compute_rewards", "extract_answer",
    "format_reward", "is_well_formatted", "length_bonus", "length_bonus_by_group", "parse_number",
    "solution_answer", "temporal_bonus", "validate_problem_type", "validate_problem_types",
]

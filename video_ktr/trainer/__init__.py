"""Trainer: the RL recipe (GRPO / KTR / T-GRPO / DAPO / Dr.GRPO), CoT-SFT warm-up, checkpoints and run logs."""
from video_ktr.trainer.advantages import REWARD_SCALES, group_advantages, informative_groups
from video_ktr.trainer.checkpoint import checkpoint_dirs, latest_checkpoint
from video_ktr.trainer.rl import NonFiniteError, RLTrainer

__all__ = ["NonFiniteError", "REWARD_SCALES", "RLTrainer", "checkpoint_dirs", "group_advantages",
           "informative_groups", "latest_checkpoint"]

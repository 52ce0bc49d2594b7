"""Group-relative advantages (GRPO): centre each prompt's rewards on its group, optionally scale by a std.

Shape legend: B prompts · G samples per prompt · N = B*G.
"""
from __future__ import annotations

import torch
from torch import Tensor

from video_ktr.registry import Registry

# scale_rewards: what the centred rewards are divided by. (B, G) rewards in, (B, G) or scalar std out.
REWARD_SCALES: Registry = Registry("reward scaling")
REWARD_SCALES.add("group", lambda r: r.std(dim=1, keepdim=True))     # GRPO / KTR reference: per-prompt std
REWARD_SCALES.add("batch", lambda r: r.std().expand_as(r[:, :1]))    # one std over the whole batch
REWARD_SCALES.add("none", None)                                       # Dr.GRPO: no scaling


def group_advantages(rewards: Tensor, group_size: int, *, scale: str = "group", eps: float = 1e-4) -> Tensor:
    """A_i = (r_i − mean_G r) / (std r + eps). rewards: (N,), prompt-major. Returns (N,); sums to 0 per group."""
    assert rewards.numel() % group_size == 0, f"N={rewards.numel()} not divisible by G={group_size}"
    r = rewards.view(-1, group_size)                                  # (B, G)
    adv = r - r.mean(dim=1, keepdim=True)                             # (B, G)
    std_fn = REWARD_SCALES.get(scale)
    if std_fn is not None:
        adv = adv / (std_fn(r) + eps)
    return adv.reshape(-1)                                            # (N,)


def informative_groups(rewards: Tensor, group_size: int, *, tol: float = 1e-6) -> Tensor:
    """(N,) bool: True for rows whose group's rewards are not all equal (DAPO dynamic sampling keeps these)."""
    r = rewards.view(-1, group_size)                                  # (B, G)
    varied = (r.max(dim=1).values - r.min(dim=1).values) > tol        # (B,)
    return varied.repeat_interleave(group_size)                       # (N,)

"""How a per-token loss matrix becomes one scalar (registry ``AGGREGATIONS``).

Aggregation = (loss_mat (N,T), weight (N,T) float, denom (N,T) float, *, max_length) -> (loss (), num_empty ())
``weight`` masks / weights the loss (key mask, soft weights); ``denom`` is what is counted in the normaliser
(= weight, or the whole completion mask for ``normalize_by="all"``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from video_ktr.registry import Registry

AGGREGATIONS: Registry = Registry("loss aggregation")


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den where den > 0, else 0 (and a zero gradient): the empty-selection guard."""
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))


@AGGREGATIONS.register("seq_mean_token_mean")
def seq_mean_token_mean(loss_mat: Tensor, weight: Tensor, denom: Tensor, *, max_length: int | None = None):
    """Reference (GRPO / KTR): Σ w ℓ / Σ d per completion, then the mean over all N completions.

    A completion with Σ d = 0 (no selected token) contributes 0 and still counts in the mean.
    """
    per_seq = _safe_div((loss_mat * weight).sum(1), denom.sum(1))                               # (N,)
    return per_seq.mean(), (denom.sum(1) <= 0).sum()


@AGGREGATIONS.register("token_mean")
def token_mean(loss_mat: Tensor, weight: Tensor, denom: Tensor, *, max_length: int | None = None):
    """DAPO: Σ w ℓ / Σ d over the whole batch (long completions weigh more)."""
    return _safe_div((loss_mat * weight).sum(), denom.sum()), (denom.sum(1) <= 0).sum()


@AGGREGATIONS.register("constant_norm")
def constant_norm(loss_mat: Tensor, weight: Tensor, denom: Tensor, *, max_length: int | None = None):
    """Dr. GRPO: Σ w ℓ / (N · max_length), a constant normaliser (default max_length = T)."""
    n, t = loss_mat.shape
    return (loss_mat * weight).sum() / (n * (max_length or t)), (denom.sum(1) <= 0).sum()

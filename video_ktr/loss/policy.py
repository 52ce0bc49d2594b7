"""The KTR / GRPO policy loss: per-token ℓ = −(min(r·A, clip(r)·A) − β·KL), masked by the key tokens, reduced by a
registered aggregation. Importance ratios are a registry too (``token`` as GRPO/PPO, ``sequence`` as GSPO).

Shape legend: N completions · T tokens. No ``.item()``: metrics are 0-d detached tensors.
"""
from __future__ import annotations

import torch
from torch import Tensor

from video_ktr.loss.aggregation import AGGREGATIONS, _safe_div
from video_ktr.registry import Registry

NORMALIZE_BY = ("mask", "all")

# ImportanceRatio = (logp (N,T), logp_old (N,T), mask (N,T) bool) -> log-ratio (N,T) (with grad through logp)
IMPORTANCE_RATIOS: Registry = Registry("importance ratio")


@IMPORTANCE_RATIOS.register("token")
def token_log_ratio(logp: Tensor, logp_old: Tensor, mask: Tensor) -> Tensor:
    """PPO / GRPO: log r_t = logp_t − logp_old_t."""
    return logp - logp_old


@IMPORTANCE_RATIOS.register("sequence")
def sequence_log_ratio(logp: Tensor, logp_old: Tensor, mask: Tensor) -> Tensor:
    """GSPO-token: log s_i = mean_t∈mask (logp − logp_old), used as sg[log s_i] + logp_t − sg[logp_t]."""
    m = mask.float()
    seq = _safe_div(((logp - logp_old) * m).sum(1), m.sum(1))                                     # (N,)
    return seq.detach()[:, None] + logp - logp.detach()                                         # (N, T)


def k3_kl(logp: Tensor, logp_ref: Tensor, clamp: float = 10.0) -> Tensor:
    """Per-token k3 estimator of KL(π ‖ π_ref): exp(d) − d − 1 with d = clamp(logp_ref − logp, ±clamp)."""
    d = (logp_ref - logp).clamp(-clamp, clamp)
    return torch.exp(d) - d - 1


def policy_loss(logp: Tensor, logp_old: Tensor | None, logp_ref: Tensor | None, adv: Tensor, mask: Tensor, *,
                beta: float = 0.04, eps: float = 0.2, eps_high: float | None = None,
                aggregation: str = "seq_mean_token_mean", importance: str = "token", normalize_by: str = "mask",
                completion_mask: Tensor | None = None, max_length: int | None = None,
                kl_clamp: float = 10.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Masked clipped policy-gradient loss with a k3 KL penalty.

    logp: (N, T) with grad; logp_old: (N, T) behaviour log-probs, or None for a single update per rollout batch
    (ratio = exp(logp − sg[logp]) ≡ 1, as the reference); logp_ref: (N, T) or None (no KL); adv: (N,);
    mask: (N, T) bool key mask or float weights (soft selection). eps / eps_high: clip range [1 − eps, 1 + eps_high]
    (eps_high defaults to eps; at ratio 1 clipping changes nothing). normalize_by: "mask" (Σ m ℓ / Σ m) or "all"
    (mask the loss, divide by all completion tokens: needs ``completion_mask``). Returns (loss (), metrics).
    """
    if normalize_by not in NORMALIZE_BY:
        raise ValueError(f"normalize_by={normalize_by!r} must be one of {NORMALIZE_BY}")
    if logp.shape != mask.shape or adv.shape != logp.shape[:1]:
        raise ValueError(f"shape mismatch: logp {tuple(logp.shape)}, mask {tuple(mask.shape)}, adv "
                         f"{tuple(adv.shape)}; expected (N, T), (N, T), (N,)")
    weight = mask.float()
    if normalize_by == "all":
        if completion_mask is None:
            raise ValueError("normalize_by='all' divides by every completion token: pass completion_mask")
        denom = completion_mask.float()
    else:
        denom = weight
    eps_high = eps if eps_high is None else eps_high
    old = logp.detach() if logp_old is None else logp_old
    log_ratio = IMPORTANCE_RATIOS.get(importance)(logp, old, weight > 0)
    ratio = torch.exp(log_ratio)                                                                # (N, T)
    a = adv[:, None].to(ratio.dtype)                                                            # (N, 1)
    clipped = ratio.clamp(1 - eps, 1 + eps_high)
    pg = torch.minimum(ratio * a, clipped * a)                                                  # (N, T)
    loss_mat = -pg
    kl = None
    if logp_ref is not None and beta != 0:
        kl = k3_kl(logp, logp_ref, kl_clamp)
        loss_mat = loss_mat + beta * kl
    loss, num_empty = AGGREGATIONS.get(aggregation)(loss_mat, weight, denom, max_length=max_length)
    with torch.no_grad():
        sel = weight > 0
        n_sel = sel.sum().float()
        is_clipped = ((ratio < 1 - eps) & (a < 0)) | ((ratio > 1 + eps_high) & (a > 0))
        metrics = {
            "loss/policy": loss.detach(),
            "loss/num_empty": num_empty.detach().float(),
            "loss/ratio_mean": _safe_div((ratio * sel).sum(), n_sel),
            "loss/clip_frac": _safe_div((is_clipped & sel).sum().float(), n_sel),
        }
        if kl is not None:
            metrics["loss/kl"] = _safe_div((kl * sel).sum(), n_sel)
    return loss, metrics

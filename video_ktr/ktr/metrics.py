"""Selection diagnostics: how much each signal keeps, how the signals overlap, and what entropy the kept tokens have.

All values are 0-d tensors (no ``.item()`` here; the trainer converts once per step). Shape legend: N · T.
"""
from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor


def _safe_div(a: Tensor, b: Tensor) -> Tensor:
    return torch.where(b > 0, a / b.clamp_min(1e-12), torch.zeros_like(a))


def selection_metrics(per_signal: dict[str, Tensor], key: Tensor, valid: Tensor, applicable: dict[str, Tensor],
                      entropy: Tensor | None = None) -> dict[str, Tensor]:
    """Metrics of one selection.

    per_signal: name → (N, T) bool mask or float weights; key: (N, T) combined; valid: (N, T) bool;
    applicable: name → (N,) bool rows where the signal applies (temporal: videos only); entropy: (N, T) or None.
    Keys: ktr/frac_<signal> (share of its applicable valid tokens kept), ktr/frac_key (share of valid tokens),
    ktr/overlap_<a>_<b> (Jaccard |a∧b| / |a∨b| over rows where both apply), ktr/entropy_kept|dropped (means),
    ktr/mean_weight (mean key weight over valid tokens; = frac_key for a binary mask).
    """
    valid = valid.bool()
    vf = valid.float()
    out: dict[str, Tensor] = {}
    sel = {s: (m > 0) & valid for s, m in per_signal.items()}
    for s, m in sel.items():
        rows = applicable[s][:, None] & valid
        out[f"ktr/frac_{s}"] = _safe_div((m & rows).sum().float(), rows.sum().float())
    kept = (key > 0) & valid
    out["ktr/frac_key"] = _safe_div(kept.sum().float(), vf.sum())
    out["ktr/mean_weight"] = _safe_div((key.float() * vf).sum(), vf.sum())
    for a, b in combinations(sel, 2):
        rows = (applicable[a] & applicable[b])[:, None]
        inter = (sel[a] & sel[b] & rows).sum().float()
        union = ((sel[a] | sel[b]) & rows).sum().float()
        out[f"ktr/overlap_{a}_{b}"] = _safe_div(inter, union)
    if entropy is not None:
        e = entropy.detach().float()
        dropped = valid & ~kept
        out["ktr/entropy_kept"] = _safe_div((e * kept).sum(), kept.sum().float())
        out["ktr/entropy_dropped"] = _safe_div((e * dropped).sum(), dropped.sum().float())
    return out

"""Key-token selection: per-group top-ratio thresholds, soft rank weights, and the union of the KTR signals.

Shape legend: B prompts · G completions per prompt · N = B*G · T completion tokens · S = G*T tokens of one group.
"""
from __future__ import annotations

import torch
from torch import Tensor

from video_ktr.registry import Registry

SIGNALS = ("entropy", "visual", "temporal")
IMAGE_SIGNALS = ("entropy", "visual")   # images have no temporal probe: entropy ∪ visual


# ----------------------------------------------------------------------------------------------- pure functions
def _grouped(x: Tensor, group_size: int) -> Tensor:
    n, t = x.shape
    if group_size < 1 or n % group_size:
        raise ValueError(f"group_size={group_size} must divide the number of completions N={n}: rows are "
                         f"consecutive groups of one prompt's completions")
    return x.reshape(n // group_size, group_size * t)                                          # (B, S)


def group_quantile(scores: Tensor, valid: Tensor, q: float, group_size: int) -> Tensor:
    """torch.quantile(scores[valid in group], q) (linear interpolation) for every group at once, via one sort.

    scores (N, T) float, valid (N, T) bool. Returns (B,) thresholds; NaN for a group with no valid token.
    """
    s, v = _grouped(scores, group_size), _grouped(valid.bool(), group_size)                     # (B, S)
    srt = torch.where(v, s, torch.full_like(s, float("inf"))).sort(dim=1).values               # valid first
    n = v.sum(1)                                                                                # (B,)
    # torch.quantile: rank = q·(n−1) in the input dtype, lerp(v[floor], v[ceil], rank − floor)
    rank = torch.tensor(q, dtype=s.dtype, device=s.device) * (n - 1).clamp_min(0).to(s.dtype)  # (B,)
    lo, hi = rank.floor(), rank.ceil()
    below = srt.gather(1, lo.long()[:, None]).squeeze(1)
    above = srt.gather(1, hi.long()[:, None]).squeeze(1)
    thr = torch.lerp(below, above, rank - lo)
    return torch.where(n > 0, thr, torch.full_like(thr, float("nan")))


def top_ratio_mask(scores: Tensor, valid: Tensor, ratio: float, group_size: int) -> Tensor:
    """Tokens at or above each group's (1 − ratio) quantile of its valid scores.

    scores: float (N, T); valid: bool (N, T); rows are consecutive groups of ``group_size`` completions of one
    prompt. thr = torch.quantile(scores[valid in group], 1 − ratio) (linear interpolation); result = valid ∧
    scores ≥ thr. A group without valid tokens selects nothing; ratio 1 keeps every valid token; ratio 0 keeps
    the maximum (ties included). Returns bool (N, T).
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio={ratio} must be in [0, 1]: the share of a group's valid tokens to keep")
    thr = group_quantile(scores, valid, 1.0 - ratio, group_size)                                # (B,)
    thr = thr.repeat_interleave(group_size)[:, None]                                            # (N, 1)
    return valid.bool() & (scores >= thr)                                                       # NaN thr → False


def constant_groups(scores: Tensor, valid: Tensor, group_size: int, tol: float = 0.0) -> Tensor:
    """(N,) bool: rows whose group's valid scores are all equal within ``tol`` (max − min ≤ tol).

    A static clip gives every token a temporal score of exactly 0; an image has no temporal signal at all; a visual
    probe the model ignores gives ≈ 0 everywhere. Such a signal ranks nothing. A group without valid tokens is
    not constant (it selects nothing anyway).
    """
    s, v = _grouped(scores.float(), group_size), _grouped(valid.bool(), group_size)             # (B, S)
    hi = torch.where(v, s, torch.full_like(s, -float("inf"))).amax(1)
    lo = torch.where(v, s, torch.full_like(s, float("inf"))).amin(1)
    const = v.any(1) & ((hi - lo) <= tol)                                                       # (B,)
    return const.repeat_interleave(group_size)                                                  # (N,)


def group_rank_norm(scores: Tensor, valid: Tensor, group_size: int) -> Tensor:
    """Normalised descending rank in the group: 0 for the highest valid score, 1 for the lowest. (N, T), 0 at padding.

    Ties get distinct ranks in sort order (stable); a group with one valid token gives 0.
    """
    s, v = _grouped(scores, group_size), _grouped(valid.bool(), group_size)                     # (B, S)
    order = torch.where(v, s, torch.full_like(s, -float("inf"))).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order))
    n = v.sum(1, keepdim=True)                                                                   # (B, 1)
    rn = rank.to(s.dtype) / (n - 1).clamp_min(1).to(s.dtype)                                   # (B, S)
    return torch.where(v, rn, torch.zeros_like(rn)).reshape(scores.shape)                      # (N, T)


# --------------------------------------------------------------------------------------------- weighting registry
# Weighting = (scores (N,T), valid (N,T) bool, group_size, *, ratio, gamma, k) -> (N,T) float (0 at padding),
# or bool for a hard selection (then the combined key mask stays bool).
WEIGHTINGS: Registry = Registry("token weighting")


@WEIGHTINGS.register("binary")
def binary_weights(scores, valid, group_size, *, ratio, gamma=1.5, k=20.0):
    """The reference: 1 on the top-ratio tokens of the group, 0 elsewhere."""
    return top_ratio_mask(scores, valid, ratio, group_size)                                     # bool


@WEIGHTINGS.register("rank_sigmoid")
def rank_sigmoid_weights(scores, valid, group_size, *, ratio=0.2, gamma=1.5, k=20.0):
    """w = 1 + γ(σ(k(0.5 − rank_norm)) − 0.5): ≈ 1 + γ/2 for the top token, ≈ 1 − γ/2 for the bottom one."""
    rn = group_rank_norm(scores, valid, group_size)
    return (1 + gamma * (torch.sigmoid(k * (0.5 - rn)) - 0.5)) * valid


@WEIGHTINGS.register("linear")
def linear_weights(scores, valid, group_size, *, ratio=0.2, gamma=1.5, k=20.0):
    """w = 1 + γ(0.5 − rank_norm): linear in rank, mean 1 over a group."""
    rn = group_rank_norm(scores, valid, group_size)
    return (1 + gamma * (0.5 - rn)) * valid


@WEIGHTINGS.register("exponential")
def exponential_weights(scores, valid, group_size, *, ratio=0.2, gamma=1.5, k=20.0):
    """w = exp(γ(0.5 − rank_norm)): geometric decay with rank."""
    rn = group_rank_norm(scores, valid, group_size)
    return torch.exp(gamma * (0.5 - rn)) * valid


@WEIGHTINGS.register("softmax")
def softmax_weights(scores, valid, group_size, *, ratio=0.2, gamma=1.5, k=20.0):
    """w = n · softmax(γ · z) over the group's valid tokens, z = standardised scores: mean 1 per group."""
    s, v = _grouped(scores, group_size), _grouped(valid.bool(), group_size)                     # (B, S)
    n = v.sum(1, keepdim=True).clamp_min(1)
    mean = (s * v).sum(1, keepdim=True) / n
    std = (((s - mean) * v) ** 2).sum(1, keepdim=True).div(n).sqrt().clamp_min(1e-6)
    z = torch.where(v, gamma * (s - mean) / std, torch.full_like(s, -float("inf")))
    w = torch.nan_to_num(z.softmax(1), nan=0.0) * n                                             # (B, S)
    return (w * v).reshape(scores.shape)


# ----------------------------------------------------------------------------------------------- the selector
ON_CONSTANT = ("all", "none")  # what a signal constant over a group's valid tokens selects: all (reference) | none
def signal_selections(scores: dict[str, Tensor], valid: Tensor, is_video: Tensor, group_size: int, *,
                      signals: tuple[str, ...] = SIGNALS, ratios: dict[str, float] | None = None,
                      scope: str = "group", weighting: str = "binary", gamma: float = 1.5,
                      k: float = 20.0, on_constant: str = "all", constant_tol: float = 0.0,
                      constant_out: dict | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Each signal's own selection before combining (arguments as :func:`select_key_tokens`).

    Returns (per_signal: name → (N, T) bool mask or float weights, applicable: name → (N,) bool rows the signal
    applies to — image rows are not applicable for ``temporal`` and select nothing there). ``constant_out``, if
    given, receives name → (N,) bool rows whose group's scores are constant (see ``on_constant``).
    """
    if on_constant not in ON_CONSTANT:
        raise ValueError(f"on_constant={on_constant!r} must be one of {ON_CONSTANT}")
    unknown = [s for s in signals if s not in SIGNALS]
    if unknown or not signals:
        raise ValueError(f"ktr signals {list(signals)} must be a non-empty subset of {list(SIGNALS)}")
    missing = [s for s in signals if s not in scores]
    if missing:
        raise KeyError(f"scores for signals {missing} were not computed; got {sorted(scores)}")
    if scope not in ("group", "batch"):
        raise ValueError(f"scope={scope!r} must be 'group' (reference: per prompt) or 'batch'")
    ratios = {s: 0.2 for s in SIGNALS} | dict(ratios or {})
    valid = valid.bool()
    n = valid.shape[0]
    is_video = is_video.to(valid.device).bool()
    gs = group_size if scope == "group" else n
    _grouped(valid, group_size)  # checks divisibility even for scope="batch"
    fn = WEIGHTINGS.get(weighting)
    per_signal, applicable = {}, {}
    for name in signals:
        rows = is_video if name not in IMAGE_SIGNALS else torch.ones_like(is_video)             # (N,)
        applicable[name] = rows
        v = valid & rows[:, None]
        sel = fn(scores[name].float(), v, gs, ratio=ratios[name], gamma=gamma, k=k)
        const = constant_groups(scores[name], v, gs, constant_tol) & rows                       # (N,)
        if on_constant == "none":  # a constant signal ranks nothing: keep no token instead of all of them
            sel = sel & ~const[:, None] if sel.dtype == torch.bool else sel * (~const[:, None]).to(sel.dtype)
        if constant_out is not None:
            constant_out[name] = const
        per_signal[name] = sel
    return per_signal, applicable


def select_key_tokens(scores: dict[str, Tensor], valid: Tensor, is_video: Tensor, group_size: int, *,
                      signals: tuple[str, ...] = SIGNALS, ratios: dict[str, float] | None = None,
                      combine: str = "union", scope: str = "group", weighting: str = "binary",
                      gamma: float = 1.5, k: float = 20.0, on_constant: str = "all",
                      constant_tol: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Combine the per-signal selections into the key mask (or soft weights).

    scores: signal name → (N, T) float scores (higher = more key); only the ``signals`` are used.
    valid: (N, T) bool completion mask; is_video: (N,) bool (image rows skip ``temporal``).
    ratios: per-signal share kept (default 0.2 each). combine: "union" (reference) | "intersection".
    scope: "group" (quantile over one prompt's G completions, reference) | "batch" (over all N).
    weighting: a WEIGHTINGS name; "binary" returns a bool mask, the others float weights (union → max,
    intersection → min over the applicable signals).
    on_constant: a signal whose scores are constant (within ``constant_tol``) over a group's valid tokens — a
    static clip's temporal scores, a visual probe with no effect — has no ranking: "all" keeps every token there
    (the reference rule score ≥ quantile; with the union KTR becomes GRPO on that group), "none" keeps none.
    Returns (key (N, T) bool or float, metrics) — metrics from :func:`video_ktr.ktr.metrics.selection_metrics`.
    """
    from video_ktr.ktr.metrics import selection_metrics

    if combine not in ("union", "intersection"):
        raise ValueError(f"combine={combine!r} must be 'union' (reference) or 'intersection'")
    valid = valid.bool()
    constant: dict[str, Tensor] = {}
    per_signal, applicable = signal_selections(scores, valid, is_video, group_size, signals=signals, ratios=ratios,
                                               scope=scope, weighting=weighting, gamma=gamma, k=k,
                                               on_constant=on_constant, constant_tol=constant_tol,
                                               constant_out=constant)
    stack = torch.stack([per_signal[s].float() for s in signals])                               # (S, N, T)
    app = torch.stack([applicable[s] for s in signals])[:, :, None].expand_as(stack)            # (S, N, T)
    if combine == "union":
        key = torch.where(app, stack, torch.zeros_like(stack)).amax(0)
    else:
        key = torch.where(app, stack, torch.full_like(stack, float("inf"))).amin(0)
    key = torch.where(valid, key, torch.zeros_like(key))                                        # (N, T)
    if all(m.dtype == torch.bool for m in per_signal.values()):
        key = key.bool()
    metrics = selection_metrics(per_signal, key, valid, applicable, entropy=scores.get("entropy"))
    for name, const in constant.items():  # share of the signal's applicable rows whose group has no ranking
        rows = applicable[name]
        metrics[f"ktr/constant_{name}"] = const.sum().float() / rows.sum().clamp_min(1).float()
    return key, metrics

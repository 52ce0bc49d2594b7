"""Token scores: entropy, and counterfactual dependence (original vs probe) as a signed log-prob difference or a
distance between the two next-token distributions (METHOD §1 ablations), computed chunked through the LM head.

Shape legend: N completions · T tokens · M valid tokens · C chunk · D hidden · V vocab.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from video_ktr.ktr.logprobs import DEFAULT_CHUNK, CompletionOutput

# ----------------------------------------------------------------------------------------------- distance registry
from video_ktr.registry import Registry

# Distance = (logp_p (C,V), logp_q (C,V)) -> (C,): p = original next-token distribution, q = counterfactual.
DISTANCES: Registry = Registry("distribution distance")


@DISTANCES.register("kl")
def kl_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """KL(p ‖ q) = Σ p (log p − log q)."""
    return (lp.exp() * (lp - lq)).sum(-1)


@DISTANCES.register("js")
def js_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2 (nats)."""
    lm = torch.logaddexp(lp, lq) - torch.log(torch.tensor(2.0, dtype=lp.dtype, device=lp.device))
    return 0.5 * (lp.exp() * (lp - lm)).sum(-1) + 0.5 * (lq.exp() * (lq - lm)).sum(-1)


@DISTANCES.register("l1")
def l1_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """Σ |p − q| (twice the total-variation distance)."""
    return (lp.exp() - lq.exp()).abs().sum(-1)


@DISTANCES.register("l2")
def l2_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """‖p − q‖₂."""
    return (lp.exp() - lq.exp()).pow(2).sum(-1).sqrt()


@DISTANCES.register("cosine")
def cosine_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """1 − cos(p, q)."""
    return 1 - F.cosine_similarity(lp.exp(), lq.exp(), dim=-1)


@DISTANCES.register("hellinger")
def hellinger_distance(lp: Tensor, lq: Tensor) -> Tensor:
    """H(p, q) = sqrt(½ Σ (√p − √q)²)."""
    return (0.5 * ((0.5 * lp).exp() - (0.5 * lq).exp()).pow(2).sum(-1)).clamp_min(0).sqrt()


@torch.no_grad()
def distribution_distance(hidden_p: Tensor, hidden_q: Tensor, weight: Tensor, *, distance: str = "kl",
                          bias: Tensor | None = None, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Distance between the next-token distributions of two sets of final hidden states, chunked over tokens.

    hidden_p, hidden_q: (M, D) (original, counterfactual); weight: (V, D) LM head. Returns (M,) float32.
    """
    fn = DISTANCES.get(distance)
    if hidden_p.shape != hidden_q.shape:
        raise ValueError(f"hidden shapes differ: {tuple(hidden_p.shape)} vs {tuple(hidden_q.shape)}")
    out = []
    for s in range(0, hidden_p.shape[0], chunk_size):
        lp = F.linear(hidden_p[s:s + chunk_size], weight, bias).float().log_softmax(-1)        # (C, V)
        lq = F.linear(hidden_q[s:s + chunk_size], weight, bias).float().log_softmax(-1)        # (C, V)
        out.append(fn(lp, lq))
    return torch.cat(out) if out else hidden_p.new_zeros(0, dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ measure registry
# Measure = (orig: CompletionOutput, cf: CompletionOutput, mask (N,T), *, weight, bias, chunk_size) -> (N,T) float
MEASURES: Registry = Registry("counterfactual score measure")


@MEASURES.register("logp_diff")
def logp_diff_score(orig: CompletionOutput, cf: CompletionOutput, mask: Tensor, *, weight=None, bias=None,
                    chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Signed s_t = logp_t − logp_t(counterfactual): high when the token's likelihood drops without the evidence."""
    return (orig.logp.detach() - cf.logp.detach()) * mask.bool()


def _distance_measure(name: str):
    def measure(orig: CompletionOutput, cf: CompletionOutput, mask: Tensor, *, weight=None, bias=None,
                chunk_size: int = DEFAULT_CHUNK) -> Tensor:
        if orig.hidden is None or cf.hidden is None or weight is None:
            raise ValueError(f"score measure {name!r} compares whole next-token distributions: run the policy "
                             f"and the probe with return_hidden=True and pass the LM-head weight")
        d = distribution_distance(orig.hidden, cf.hidden, weight, distance=name, bias=bias, chunk_size=chunk_size)
        return d.new_zeros(mask.shape).masked_scatter(mask.bool(), d)
    measure.__doc__ = f"{name} distance between the original and counterfactual next-token distributions."
    return measure


for _name in DISTANCES.names():
    MEASURES.add(_name, _distance_measure(_name))


def counterfactual_score(orig: CompletionOutput, cf: CompletionOutput, mask: Tensor, *, measure: str = "logp_diff",
                         weight: Tensor | None = None, bias: Tensor | None = None,
                         chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """(N, T) dependence score of each completion token on the hidden evidence (0 at padding)."""
    return MEASURES.get(measure)(orig, cf, mask, weight=weight, bias=bias, chunk_size=chunk_size)


def needs_hidden(measure: str) -> bool:
    """Whether a measure needs the final hidden states (distribution distances) rather than just log-probs."""
    MEASURES.get(measure)
    return measure in DISTANCES

"""Distances (hand-computed), chunked distance == full, logp-diff measure, registry coverage."""
import math

import pytest
import torch

from video_ktr.ktr import DISTANCES, MEASURES, CompletionOutput, counterfactual_score, distribution_distance


P = torch.tensor([[0.5, 0.5, 0.0 + 1e-30]]).log()
Q = torch.tensor([[0.25, 0.75, 1e-30]]).log()


@pytest.mark.parametrize("name,expect", [
    ("kl", 0.5 * math.log(2) + 0.5 * math.log(2 / 3)),
    ("js", 0.5 * (0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625))
     + 0.5 * (0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625))),
    ("l1", 0.5),
    ("l2", math.sqrt(2 * 0.25 ** 2)),
    ("cosine", 1 - 0.5 / (math.sqrt(0.5) * math.sqrt(0.625))),
    ("hellinger", math.sqrt(0.5 * ((math.sqrt(.5) - math.sqrt(.25)) ** 2 + (math.sqrt(.5) - math.sqrt(.75)) ** 2))),
])
def test_distance_hand_computed(name, expect):
    assert DISTANCES.get(name)(P, Q).item() == pytest.approx(expect, abs=1e-6)
    assert DISTANCES.get(name)(P, P).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", MEASURES.names())
def test_every_measure_chunked(name):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(50, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]).bool()
    hp, hq = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    lp = torch.randn(2, 4, generator=g) * mask
    lq = torch.randn(2, 4, generator=g) * mask
    o, c = CompletionOutput(lp, None, hp, None), CompletionOutput(lq, None, hq, None)
    s = counterfactual_score(o, c, mask, measure=name, weight=w, chunk_size=2)
    assert s.shape == mask.shape and (s[~mask] == 0).all()
    if name == "logp_diff":
        assert torch.allclose(s, (lp - lq) * mask)
    else:
        full = DISTANCES.get(name)((hp @ w.T).log_softmax(-1), (hq @ w.T).log_softmax(-1))
        assert torch.allclose(s[mask], full, atol=1e-6)
        assert (full >= -1e-6).all()


def test_distance_needs_hidden():
    m = torch.ones(1, 1, dtype=torch.bool)
    o = CompletionOutput(torch.zeros(1, 1), None, None, None)
    with pytest.raises(ValueError, match="return_hidden"):
        counterfactual_score(o, o, m, measure="kl")
    with pytest.raises(KeyError, match="unknown"):
        distribution_distance(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(3, 2), distance="emd")

"""top_ratio_mask contract, soft weights, union/intersection and selection metrics."""
import pytest
import torch

from video_ktr.ktr import WEIGHTINGS, group_quantile, group_rank_norm, select_key_tokens, top_ratio_mask


def loop_top_ratio(scores, valid, ratio, g):
    """Plain reference: one torch.quantile per group."""
    out = torch.zeros_like(valid)
    for b in range(0, scores.shape[0], g):
        s, v = scores[b:b + g], valid[b:b + g]
        if v.any():
            thr = torch.quantile(s[v], 1 - ratio)
            out[b:b + g] = v & (s >= thr)
    return out


def test_hand_computed_single_group():
    # valid scores 1,2,3,4,5 (6 is padding): quantile(0.8) = rank 0.8·4 = 3.2 → 4 + 0.2·(5−4) = 4.2 → keep {5}
    s = torch.tensor([[1.0, 5.0, 3.0], [2.0, 4.0, 6.0]])
    v = torch.tensor([[True, True, True], [True, True, False]])
    assert top_ratio_mask(s, v, 0.2, 2).tolist() == [[False, True, False], [False, False, False]]
    # ratio 0.5: quantile(0.5) = 3 → keep 3, 4, 5; padding (6) never
    assert top_ratio_mask(s, v, 0.5, 2).tolist() == [[False, True, True], [False, True, False]]
    assert torch.allclose(group_quantile(s, v, 0.8, 2), torch.tensor([4.2]))


def test_ratio_extremes_ties_and_empty_group():
    s = torch.tensor([[3.0, 3.0, 1.0], [3.0, 2.0, 9.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v = torch.tensor([[True, True, True], [True, True, False], [False] * 3, [False] * 3])
    # group 0: max 3 is tied three times → all three kept at ratio 0; group 1 (no valid token) selects nothing
    r0 = top_ratio_mask(s, v, 0.0, 2)
    assert r0.tolist() == [[True, True, False], [True, False, False], [False] * 3, [False] * 3]
    assert torch.equal(top_ratio_mask(s, v, 1.0, 2), v)
    assert torch.isnan(group_quantile(s, v, 0.5, 2)[1])


def test_groups_with_different_lengths():
    # group A has 2 valid tokens (0, 10): q 0.8 → 8 → keep 10; group B 4 valid (1..4): q 0.8 → 3.4 → keep 4
    s = torch.tensor([[0.0, 10.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0]])
    v = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]).bool()
    m = top_ratio_mask(s, v, 0.2, 2)
    assert m.nonzero().tolist() == [[0, 1], [3, 1]]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.2, 0.37, 0.5, 1.0])
def test_vectorised_equals_loop_quantile(seed, ratio):
    g = torch.Generator().manual_seed(seed)
    n, t, gs = 12, 9, 4
    s = torch.randn(n, t, generator=g)
    s[:, ::4] = s[:, 1:2]                                                       # ties
    v = torch.rand(n, t, generator=g) > 0.3
    v[8:12] = False if seed == 2 else v[8:12]                                   # an empty group
    assert torch.equal(top_ratio_mask(s, v, ratio, gs), loop_top_ratio(s, v, ratio, gs))
    assert torch.equal(top_ratio_mask(s, v, ratio, n), loop_top_ratio(s, v, ratio, n))


def test_bad_arguments():
    with pytest.raises(ValueError, match="group_size"):
        top_ratio_mask(torch.zeros(3, 2), torch.ones(3, 2, dtype=torch.bool), 0.2, 2)
    with pytest.raises(ValueError, match="ratio"):
        top_ratio_mask(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool), 1.5, 2)


def test_rank_norm_and_rank_sigmoid():
    s = torch.tensor([[3.0, 1.0, 2.0]])
    v = torch.tensor([[True, True, True]])
    assert group_rank_norm(s, v, 1).tolist() == [[0.0, 1.0, 0.5]]
    w = WEIGHTINGS.get("rank_sigmoid")(s, v, 1, gamma=1.5, k=20.0)
    sig = torch.sigmoid(torch.tensor(10.0))
    # rank 0 → 1 + 1.5(σ(10) − .5); rank .5 → 1; rank 1 → 1 + 1.5(σ(−10) − .5)
    expect = torch.tensor([[1 + 1.5 * (sig - 0.5), 1 + 1.5 * (1 - sig - 0.5), 1.0]])
    assert torch.allclose(w, expect, atol=1e-6)


@pytest.mark.parametrize("name", WEIGHTINGS.names())
def test_every_weighting(name):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(4, 6, generator=g)
    v = torch.rand(4, 6, generator=g) > 0.2
    w = WEIGHTINGS.get(name)(s, v, 2, ratio=0.2, gamma=1.5, k=20.0)
    assert w.shape == s.shape and (w[~v] == 0).all() and torch.isfinite(w.float()).all()
    # monotone: inside a group a higher score never gets a lower weight
    for b in range(2):
        ss, ww = s[2 * b:2 * b + 2][v[2 * b:2 * b + 2]], w[2 * b:2 * b + 2][v[2 * b:2 * b + 2]].float()
        o = ss.argsort()
        assert (ww[o].diff() >= -1e-6).all()


def test_union_intersection_and_images():
    # one group of 2 completions × 5 tokens; row 0 video, row 1 image (image ignores temporal)
    valid = torch.ones(2, 5, dtype=torch.bool)
    ent = torch.tensor([[9.0, 0, 0, 0, 0], [0, 0, 0, 0, 8.0]])
    vis = torch.tensor([[9.0, 7.0, 0, 0, 0], [0, 0, 0, 0, 0]])
    tmp = torch.tensor([[0, 0, 9.0, 0, 0], [9.0, 0, 0, 0, 0]])
    scores = {"entropy": ent, "visual": vis, "temporal": tmp}
    is_video = torch.tensor([True, False])
    ratios = {"entropy": 0.2, "visual": 0.1, "temporal": 0.1}
    key, m = select_key_tokens(scores, valid, is_video, 2, ratios=ratios)
    # entropy r .2: rank .8·9 = 7.2 → thr 0 + .2·8 = 1.6 → keeps 9, 8; visual r .1: rank 8.1 → 7 + .1·2 = 7.2 → 9;
    # temporal (video row only, 5 tokens) rank .9·4 = 3.6 → 5.4 → keeps (0, 2); row 1's temporal 9 is never used
    assert key.tolist() == [[True, False, True, False, False], [False, False, False, False, True]]
    assert key.dtype == torch.bool
    assert torch.isclose(m["ktr/frac_key"], torch.tensor(0.3))
    assert torch.isclose(m["ktr/frac_temporal"], torch.tensor(0.2))
    assert torch.isclose(m["ktr/overlap_entropy_visual"], torch.tensor(0.5))      # {(0,0)} / {(0,0),(1,4)}
    assert torch.isclose(m["ktr/entropy_kept"], torch.tensor(17.0 / 3))
    inter, _ = select_key_tokens(scores, valid, is_video, 2, combine="intersection", ratios=ratios)
    assert inter.tolist() == [[False] * 5, [False] * 5]
    inter2, _ = select_key_tokens(scores, valid, is_video, 2, signals=("entropy", "visual"), combine="intersection",
                                  ratios=ratios)
    assert inter2.nonzero().tolist() == [[0, 0]]


def test_all_ratios_one_is_grpo_and_soft_weights():
    g = torch.Generator().manual_seed(0)
    valid = torch.rand(4, 6, generator=g) > 0.3
    scores = {s: torch.randn(4, 6, generator=g) for s in ("entropy", "visual", "temporal")}
    is_video = torch.tensor([True, True, False, False])
    key, _ = select_key_tokens(scores, valid, is_video, 2, ratios={s: 1.0 for s in scores})
    assert torch.equal(key, valid)
    soft, m = select_key_tokens(scores, valid, is_video, 2, weighting="rank_sigmoid", scope="batch")
    assert soft.dtype == torch.float32 and (soft[~valid] == 0).all() and (soft[valid] > 0.2).all()
    assert "ktr/mean_weight" in m


def test_selection_errors():
    v = torch.ones(2, 2, dtype=torch.bool)
    with pytest.raises(KeyError, match="not computed"):
        select_key_tokens({"entropy": torch.zeros(2, 2)}, v, torch.ones(2, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="subset"):
        select_key_tokens({}, v, torch.ones(2, dtype=torch.bool), 2, signals=("colour",))
    with pytest.raises(KeyError, match="unknown token weighting"):
        select_key_tokens({"entropy": torch.zeros(2, 2)}, v, torch.ones(2, dtype=torch.bool), 2,
                          signals=("entropy",), weighting="nope")


def _static_and_moving_batch():
    """Two groups of 2 completions: group 0 a static clip (temporal score exactly 0 everywhere), group 1 varied."""
    g = torch.Generator().manual_seed(0)
    ent = torch.rand(4, 5, generator=g)
    temporal = torch.cat([torch.zeros(2, 5), torch.rand(2, 5, generator=g)])
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[1, 3:] = False
    return {"entropy": ent, "temporal": temporal}, valid, torch.ones(4, dtype=torch.bool)


def test_constant_signal_selects_all_by_default_and_none_on_request():
    from video_ktr.ktr import constant_groups, signal_selections

    scores, valid, is_video = _static_and_moving_batch()
    assert constant_groups(scores["temporal"], valid, 2).tolist() == [True, True, False, False]
    kw = dict(signals=("entropy", "temporal"), ratios={"entropy": 0.2, "temporal": 0.2})
    ref, _ = signal_selections(scores, valid, is_video, 2, **kw)
    assert torch.equal(ref["temporal"][:2], valid[:2])                      # reference: score >= quantile keeps all
    none, _ = signal_selections(scores, valid, is_video, 2, on_constant="none", **kw)
    assert not none["temporal"][:2].any()                                   # no ranking → nothing selected
    assert torch.equal(none["temporal"][2:], ref["temporal"][2:])           # informative groups unchanged
    assert torch.equal(none["entropy"], ref["entropy"])
    key_ref, m_ref = select_key_tokens(scores, valid, is_video, 2, **kw)
    key_none, m_none = select_key_tokens(scores, valid, is_video, 2, on_constant="none", **kw)
    assert torch.equal(key_ref[:2], valid[:2])                              # union with "all": KTR = GRPO there
    assert torch.equal(key_none[:2], none["entropy"][:2])                   # only the entropy tokens remain
    assert m_ref["ktr/constant_temporal"] == m_none["ktr/constant_temporal"] == 0.5
    assert m_none["ktr/frac_key"] < m_ref["ktr/frac_key"]


def test_constant_tolerance_and_soft_weights():
    from video_ktr.ktr import signal_selections

    scores, valid, is_video = _static_and_moving_batch()
    scores["temporal"][:2] += 1e-8 * torch.arange(10.0).reshape(2, 5)      # float noise of a "static" clip
    kw = dict(signals=("temporal",), on_constant="none")
    exact, _ = signal_selections(scores, valid, is_video, 2, constant_tol=0.0, **kw)
    assert exact["temporal"][:2].any()                                      # tol 0: noise counts as a ranking
    tol, _ = signal_selections(scores, valid, is_video, 2, constant_tol=1e-6, **kw)
    assert not tol["temporal"][:2].any()
    soft, _ = signal_selections(scores, valid, is_video, 2, constant_tol=1e-6, weighting="softmax", **kw)
    assert soft["temporal"][:2].abs().sum() == 0 and soft["temporal"][2:].sum() > 0
    with pytest.raises(ValueError, match="on_constant"):
        signal_selections(scores, valid, is_video, 2, signals=("temporal",), on_constant="some")

"""Policy loss: hand-computed values and gradients, zero-selection guard, aggregations, GSPO, clipping."""
import math

import pytest
import torch

from video_ktr.loss import AGGREGATIONS, IMPORTANCE_RATIOS, k3_kl, policy_loss


def test_k3_kl_values_and_clamp():
    # d = logp_ref − logp = log 2 → 2 − log 2 − 1; d = 0 → 0; d clamped at 10
    kl = k3_kl(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([math.log(2), 1.0, 50.0]))
    assert torch.allclose(kl, torch.tensor([1 - math.log(2), 0.0, math.exp(10) - 11]))


def test_reference_value_and_gradient_with_zero_selection():
    # 2 completions × 3 tokens; completion 1 has no selected token → contributes 0, counted in the mean of 2.
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]], requires_grad=True)
    ref = torch.tensor([[-1.0 + math.log(2), -2.0, -3.0], [-1.0, -1.0, -1.0]])
    adv = torch.tensor([2.0, -1.0])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    loss, m = policy_loss(logp, None, ref, adv, mask, beta=0.5)
    # ratio ≡ 1: ℓ = −A + β·KL; token 0: −2 + .5(1 − log 2), token 1: −2 → completion 0 = mean of the two
    l0 = (-2 + 0.5 * (1 - math.log(2)) - 2) / 2
    assert torch.isclose(loss, torch.tensor(l0 / 2)) and torch.isfinite(loss)
    assert m["loss/num_empty"] == 1
    loss.backward()
    # dℓ/dlogp = −A·r + β·(1 − e^d) ; / Σm = 2 ; / N = 2
    g00 = (-2 + 0.5 * (1 - 2)) / 4
    g01 = -2 / 4
    assert torch.allclose(logp.grad, torch.tensor([[g00, g01, 0.0], [0.0, 0.0, 0.0]]))


def test_all_selected_equals_grpo_and_normalize_by_all():
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(4, 5, generator=g)
    comp = torch.rand(4, 5, generator=g) > 0.2
    adv = torch.randn(4, generator=g)
    full, _ = policy_loss(logp, None, None, adv, comp)
    # no KL, ratio 1: per completion −A (mean over its tokens) → mean over completions
    has = comp.any(1).float()
    assert torch.isclose(full, (-adv * has).mean())
    key = comp & (torch.rand(4, 5, generator=g) > 0.5)
    lall, _ = policy_loss(logp, None, None, adv, key, normalize_by="all", completion_mask=comp)
    expect = (-adv * key.sum(1) / comp.sum(1).clamp_min(1)).mean()
    assert torch.isclose(lall, expect)
    with pytest.raises(ValueError, match="completion_mask"):
        policy_loss(logp, None, None, adv, key, normalize_by="all")


def test_aggregations_hand_computed():
    lm = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    w = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert torch.isclose(AGGREGATIONS.get("seq_mean_token_mean")(lm, w, w)[0], torch.tensor((1.5 + 4) / 2))
    assert torch.isclose(AGGREGATIONS.get("token_mean")(lm, w, w)[0], torch.tensor(7 / 3))
    assert torch.isclose(AGGREGATIONS.get("constant_norm")(lm, w, w, max_length=10)[0], torch.tensor(7 / 20))


@pytest.mark.parametrize("aggregation", AGGREGATIONS.names())
@pytest.mark.parametrize("importance", IMPORTANCE_RATIOS.names())
def test_every_registry_entry_finite_with_empty_rows(aggregation, importance):
    g = torch.Generator().manual_seed(1)
    logp = torch.randn(4, 6, generator=g, requires_grad=True)
    old = (logp + 0.3 * torch.randn(4, 6, generator=g)).detach()
    ref = (logp + 0.1 * torch.randn(4, 6, generator=g)).detach()
    mask = torch.rand(4, 6, generator=g) > 0.5
    mask[2] = False
    loss, m = policy_loss(logp, old, ref, torch.randn(4, generator=g), mask, aggregation=aggregation,
                          importance=importance, eps=0.2, eps_high=0.28)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert (logp.grad[2] == 0).all() and (logp.grad[~mask] == 0).all()
    assert set(m) >= {"loss/policy", "loss/kl", "loss/clip_frac", "loss/num_empty"}


def test_clipping_and_soft_weights():
    # ratio e^0.5 ≈ 1.65 > 1 + .2 with A > 0 → clipped to 1.2, loss = −1.2, zero gradient
    logp = torch.tensor([[0.5]], requires_grad=True)
    loss, m = policy_loss(logp, torch.zeros(1, 1), None, torch.tensor([1.0]), torch.ones(1, 1, dtype=torch.bool))
    assert torch.isclose(loss, torch.tensor(-1.2)) and m["loss/clip_frac"] == 1
    loss.backward()
    assert logp.grad.item() == 0
    # eps_high 1.0 → not clipped: −e^.5
    loss2, _ = policy_loss(logp, torch.zeros(1, 1), None, torch.tensor([1.0]), torch.ones(1, 1), eps_high=1.0)
    assert torch.isclose(loss2, torch.tensor(-math.exp(0.5)))
    # soft weights: Σ w ℓ / Σ w = (2·(−1) + 0.5·(−1)) / 2.5 = −1 → −A regardless of weights
    lw, _ = policy_loss(torch.zeros(1, 2), None, None, torch.tensor([1.0]), torch.tensor([[2.0, 0.5]]))
    assert torch.isclose(lw, torch.tensor(-1.0))


def test_gspo_sequence_ratio():
    # log s = mean(0.1, 0.3) = 0.2 for both tokens
    logp = torch.tensor([[0.1, 0.3]], requires_grad=True)
    lr = IMPORTANCE_RATIOS.get("sequence")(logp, torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(lr, torch.tensor([[0.2, 0.2]]))


def test_unknown_names():
    x = torch.zeros(1, 1)
    with pytest.raises(KeyError, match="unknown loss aggregation"):
        policy_loss(x, None, None, torch.zeros(1), x.bool(), aggregation="nope")
    with pytest.raises(KeyError, match="already registered"):
        AGGREGATIONS.add("token_mean", None)

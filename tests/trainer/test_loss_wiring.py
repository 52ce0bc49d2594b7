"""KTR's gradient lives only on key tokens, and equals GRPO's when every ratio is 1 (METHOD §1)."""
import torch

from video_ktr.config import load_config
from video_ktr.ktr import select_key_tokens
from video_ktr.trainer.advantages import group_advantages, informative_groups
from video_ktr.trainer.scoring import compute_loss


def _inputs(seed=0, n=8, t=12, g=4):
    gen = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(n, t, generator=gen)).requires_grad_()
    valid = torch.ones(n, t, dtype=torch.bool)
    valid[torch.arange(n), torch.randint(3, t, (n,), generator=gen)] = False
    valid = valid.cumprod(1).bool()                                   # right-padded
    adv = group_advantages(torch.rand(n, generator=gen), g)
    scores = {s: torch.randn(n, t, generator=gen) for s in ("entropy", "visual", "temporal")}
    return logp, valid, adv, scores


def _grad(cfg, logp, adv, mask):
    logp.grad = None
    loss, _ = compute_loss(cfg, logp, logp.detach(), None, adv, mask)
    loss.backward()
    return logp.grad.clone()


def test_ktr_gradient_is_zero_outside_the_key_mask():
    cfg = load_config(None, ["algorithm=ktr", "loss.beta=0"])
    for seed in range(3):
        logp, valid, adv, scores = _inputs(seed)
        key, _ = select_key_tokens(scores, valid, torch.ones(8, dtype=torch.bool), 4)
        assert key.sum() < valid.sum()
        grad = _grad(cfg, logp, adv, key)
        assert (grad[~key] == 0).all()
        assert (grad[key] != 0).any()


def test_ktr_with_all_ratios_one_equals_grpo():
    ktr = load_config(None, ["algorithm=ktr", "loss.beta=0"])
    grpo = load_config(None, ["algorithm=grpo", "loss.beta=0"])
    logp, valid, adv, scores = _inputs(1)
    key, _ = select_key_tokens(scores, valid, torch.ones(8, dtype=torch.bool), 4,
                               ratios={"entropy": 1.0, "visual": 1.0, "temporal": 1.0})
    assert torch.equal(key, valid)
    torch.testing.assert_close(_grad(ktr, logp, adv, key), _grad(grpo, logp, adv, valid), atol=1e-7, rtol=0)


def test_group_advantages_sum_to_zero_and_dynamic_sampling():
    r = torch.tensor([1.0, 0.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv = group_advantages(r, 4)
    torch.testing.assert_close(adv.view(2, 4).sum(1), torch.zeros(2), atol=1e-6, rtol=0)
    # group 1: mean 0.5, std 0.5774 -> ±0.5 / (0.5774 + 1e-4)
    torch.testing.assert_close(adv[0], torch.tensor(0.5 / (0.57735 + 1e-4)), atol=1e-4, rtol=0)
    assert torch.equal(group_advantages(r, 4, scale="none"), torch.tensor([.5, -.5, .5, -.5, 0, 0, 0, 0]))
    assert informative_groups(r, 4).tolist() == [True] * 4 + [False] * 4

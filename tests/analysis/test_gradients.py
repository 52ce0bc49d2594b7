"""Gradient decomposition: a 2-token case by hand, the closed form on random inputs, the loss core's normaliser."""
import pytest
import torch

from video_ktr.analysis.gradients import cosine, gradient_report, split_gradient
from video_ktr.loss import policy_loss


def _head_loss(w, h, y, adv, valid):
    """logits = h Wᵀ; the KTR/GRPO loss over a mask, normalised by every valid token (the full loss's normaliser)."""
    logp = torch.log_softmax(h @ w.T, -1).gather(-1, y[..., None])[..., 0]               # (N, T)
    return lambda m: policy_loss(logp, None, None, adv, m, beta=0.0, normalize_by="all", completion_mask=valid)[0]


def test_two_tokens_by_hand():
    # V = 2, D = 1, W = 0 so p = (1/2, 1/2); one completion (A = 1) of two tokens: h = 1, y = 0 then h = 2, y = 1.
    # dℓ_t/dz_t = −A (onehot(y_t) − p) and w_t = 1/2:  token 1 -> ½·[−½, ½]·1 = [−¼, ¼]; token 2 -> ½·[½, −½]·2 = [½, −½]
    w = torch.zeros(2, 1, requires_grad=True)
    h, y = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[0, 1]])
    valid = torch.ones(1, 2, dtype=torch.bool)
    kept = torch.tensor([[True, False]])
    full, parts = split_gradient(_head_loss(w, h, y, torch.ones(1), valid), valid, {"k": kept}, [w])
    assert torch.allclose(full, torch.tensor([0.25, -0.25]))
    assert torch.allclose(parts["k"][0], torch.tensor([-0.25, 0.25]))
    assert torch.allclose(parts["k"][1], torch.tensor([0.5, -0.5]))
    r = gradient_report(full, parts, {"k": kept}, valid)["signals"]["k"]
    assert r["kept_norm"] == pytest.approx(2 ** -1.5) and r["masked_norm"] == pytest.approx(2 ** -0.5)
    assert r["kept_cos"] == pytest.approx(-1.0) and r["masked_cos"] == pytest.approx(1.0) and r["kept_frac"] == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parts_sum_to_full_and_match_the_closed_form(seed):
    g = torch.Generator().manual_seed(seed)
    n, t, v, d = 4, 6, 7, 3
    w = torch.randn(v, d, generator=g).requires_grad_(True)
    h, y = torch.randn(n, t, d, generator=g), torch.randint(0, v, (n, t), generator=g)
    valid = torch.rand(n, t, generator=g) > 0.2
    adv = torch.randn(n, generator=g)
    masks = {"a": torch.rand(n, t, generator=g) > 0.5, "b": torch.zeros(n, t, dtype=torch.bool)}
    full, parts = split_gradient(_head_loss(w, h, y, adv, valid), valid, masks, [w])
    for kept, masked in parts.values():
        assert torch.allclose(kept + masked, full, atol=1e-6)
    assert torch.equal(parts["b"][0], torch.zeros_like(full))
    # closed form: ∇W = Σ_t w_t · (−A_i) · (onehot(y_t) − p_t) h_tᵀ with w_t = valid / (|valid_i| · N)
    p = torch.softmax(h @ w.detach().T, -1)                                                 # (N, T, V)
    coef = -adv[:, None] * valid / valid.sum(1, keepdim=True).clamp(min=1) / n               # (N, T)
    dz = coef[..., None] * (torch.nn.functional.one_hot(y, v) - p)                           # (N, T, V)
    assert torch.allclose(full, torch.einsum("ntv,ntd->vd", dz, h).reshape(-1), atol=1e-6)


def test_cosine_of_zero_is_zero():
    assert cosine(torch.zeros(3), torch.ones(3)) == 0.0 and cosine(torch.ones(2), torch.ones(2)) == pytest.approx(1)


@pytest.mark.slow
def test_on_the_nano_model(nano_model, toy_data, tmp_path):
    from video_ktr.analysis.gradient_run import analyze_gradients

    r = analyze_gradients(nano_model, toy_data / "train.json", num_prompts=2, group_size=2, max_new_tokens=12,
                          advantage="unit")
    assert set(r["signals"]) == {"entropy", "visual", "temporal", "key"} and r["full_norm"] > 0
    for s in r["signals"].values():
        assert s["sum_rel_error"] < 1e-5
        assert 0.0 < s["kept_frac"] < 1.0
    assert r["signals"]["key"]["kept_frac"] >= r["signals"]["entropy"]["kept_frac"]    # the union keeps more

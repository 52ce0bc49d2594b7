"""Chunked LM-head log-probs/entropy == naive log_softmax (values and gradients)."""
import pytest
import torch

from video_ktr.ktr import chunked_token_logprobs, naive_token_logprobs


@pytest.mark.parametrize("seed,chunk", [(0, 1), (1, 3), (2, 7), (3, 100)])
def test_chunked_equals_naive(seed, chunk):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(7, 16, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(40, 16, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 40, (7,), generator=g)
    lp, ent = chunked_token_logprobs(h, w, y, chunk_size=chunk)
    assert not ent.requires_grad
    up = torch.randn(7, generator=g, dtype=torch.float64)
    (lp.double() * up).sum().backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    lp2, ent2 = naive_token_logprobs(h @ w.T, y)
    (lp2.double() * up).sum().backward()
    assert torch.allclose(lp.double(), lp2.double(), atol=1e-6)
    assert torch.allclose(ent.double(), ent2.double(), atol=1e-5)
    assert torch.allclose(gh, h.grad, atol=1e-6) and torch.allclose(gw, w.grad, atol=1e-6)


def test_bias_and_no_entropy():
    g = torch.Generator().manual_seed(0)
    h, w, b = torch.randn(5, 4, generator=g), torch.randn(9, 4, generator=g), torch.randn(9, generator=g)
    b.requires_grad_(True)
    y = torch.randint(0, 9, (5,), generator=g)
    lp, ent = chunked_token_logprobs(h, w, y, bias=b, with_entropy=False, chunk_size=2)
    assert ent is None
    lp.sum().backward()
    gb = b.grad.clone()
    b.grad = None
    lp2, _ = naive_token_logprobs(h @ w.T + b, y)
    lp2.sum().backward()
    assert torch.allclose(lp, lp2, atol=1e-6) and torch.allclose(gb, b.grad, atol=1e-6)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_token_logprobs(h, w, y, chunk_size=0)

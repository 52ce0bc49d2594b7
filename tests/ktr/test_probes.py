"""On the tiny models: completion log-probs == naive logits path; cheap visual probe == masked-attention reference;
fast temporal mode == re-encoding the permuted frame pairs (fp32, exact); permutation rules; distances end to end."""
import pytest
import torch

from tests.ktr.batch import completions, encode, frames
from video_ktr.ktr import (PERMUTATIONS, VISUAL_PROBES, completion_forward, counterfactual_score, fast_temporal_probe,
                           full_sequence_inputs, make_frame_orders, naive_token_logprobs,
                           patch_orders_to_frame_orders, temporal_probe_logprobs, visual_probe_logprobs)
from video_ktr.ktr.probes import supports_cached_vision

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl")


@pytest.fixture(scope="module")
def loaded(tiny_models):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = {}
    for fam in FAMILIES:
        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_pretrained(tiny_models[fam], dtype=torch.float32).eval()
        out[fam] = (model, AutoProcessor.from_pretrained(tiny_models[fam]))
    return out


MEDIA = [frames(8, 0), frames(4, 1), frames(1, 2)]


def batch(loaded, fam, kinds=("video", "video", "image")):
    model, proc = loaded[fam]
    inp = encode(proc, fam, MEDIA[:len(kinds)], list(kinds))
    cid, cm = completions(len(kinds), 6, model.config.text_config.vocab_size, seed=1)
    return model, proc, inp, cid, cm


@pytest.mark.parametrize("fam", FAMILIES)
def test_completion_logprobs_match_full_logits(loaded, fam):
    model, _, inp, cid, cm = batch(loaded, fam)
    o = completion_forward(model, inp, cid, cm, chunk_size=4, return_hidden=True, return_vision=True)
    with torch.no_grad():
        logits = model(**full_sequence_inputs(model, inp, cid, cm)).logits[:, -cid.shape[1] - 1:-1]
    lp, ent = naive_token_logprobs(logits, cid)
    assert torch.allclose(o.logp, lp * cm, atol=1e-5) and torch.allclose(o.entropy, ent * cm, atol=1e-5)
    assert o.logp.requires_grad and not o.entropy.requires_grad
    assert o.hidden.shape == (int(cm.sum()), model.config.text_config.hidden_size)
    # transformers >= 5.21 returns the encoder outputs with the forward; older ones (the vLLM leg) return none
    assert set(o.vision) == ({"image", "video"} if supports_cached_vision(model) else set())


@pytest.mark.parametrize("fam", FAMILIES)
def test_cheap_visual_probe_equals_masked_reference(loaded, fam):
    model, _, inp, cid, cm = batch(loaded, fam)
    ref = visual_probe_logprobs(model, inp, cid, cm, mode="mask")
    cheap = visual_probe_logprobs(model, inp, cid, cm, mode="drop")
    assert torch.allclose(cheap.logp, ref.logp, atol=1e-5, rtol=0)
    orig = completion_forward(model, inp, cid, cm, with_entropy=False)
    assert (orig.logp - cheap.logp).abs().max() > 1e-4                 # the probe does change something


def test_half_visual_probe_seeded(loaded):
    model, _, inp, cid, cm = batch(loaded, "qwen2_5_vl")
    a = visual_probe_logprobs(model, inp, cid, cm, mode="mask_half", generator=torch.Generator().manual_seed(3))
    b = visual_probe_logprobs(model, inp, cid, cm, mode="mask_half", generator=torch.Generator().manual_seed(3))
    full = visual_probe_logprobs(model, inp, cid, cm, mode="drop")
    assert torch.equal(a.logp, b.logp) and not torch.allclose(a.logp, full.logp, atol=1e-6)
    with pytest.raises(ValueError, match="Generator"):
        visual_probe_logprobs(model, inp, cid, cm, mode="mask_half")


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("mode", ["shuffle", "reverse"])
def test_fast_temporal_equals_reencoded_frame_pairs(loaded, fam, mode):
    model, proc, inp, cid, cm = batch(loaded, fam, kinds=("video", "video"))
    if not supports_cached_vision(model):            # the vLLM leg's transformers 5.17: a clear error, not garbage
        with pytest.raises(RuntimeError, match="transformers >= 5.21"):
            fast_temporal_probe(model, inp, cid, cm, mode=mode, generator=torch.Generator().manual_seed(0))
        pytest.skip("transformers < 5.21 cannot take cached vision features (fast temporal probe refused)")
    pol = completion_forward(model, inp, cid, cm, return_vision=True)
    fast, orders = fast_temporal_probe(model, inp, cid, cm, vision=pol.vision, mode=mode,
                                       generator=torch.Generator().manual_seed(0))
    assert all(o != sorted(o) for o in orders)
    re = encode(proc, fam, MEDIA[:2], ["video", "video"], frame_orders=patch_orders_to_frame_orders(orders))
    ref = temporal_probe_logprobs(model, re, cid, cm)
    assert torch.allclose(fast.logp, ref.logp, atol=1e-6, rtol=0)
    again, _ = fast_temporal_probe(model, inp, cid, cm, mode=mode, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.logp, fast.logp)                                  # re-running the vision tower: same


@pytest.mark.parametrize("name", PERMUTATIONS.names())
def test_permutations_never_identity(name):
    g = torch.Generator().manual_seed(0)
    for n in range(2, 18):
        for _ in range(20):
            p = PERMUTATIONS.get(name)(n, g, segment=4)
            assert sorted(p) == list(range(n)) and p != list(range(n))
    assert PERMUTATIONS.get(name)(1, g) == [0]
    # seeded: same generator seed → same orders
    a = make_frame_orders([16, None, 8], name, torch.Generator().manual_seed(5))
    b = make_frame_orders([16, None, 8], name, torch.Generator().manual_seed(5))
    assert a == b and a[1] is None


def test_segment_keeps_blocks():
    p = PERMUTATIONS.get("segment")(10, torch.Generator().manual_seed(1), segment=4)
    blocks = [p[i:i + 4] for i in range(0, 10, 4)]
    starts = {0: [0, 1, 2, 3], 4: [4, 5, 6, 7], 8: [8, 9]}
    rebuilt = []
    i = 0
    while i < len(p):
        rebuilt.append(starts[p[i]])
        i += len(starts[p[i]])
    assert sum(rebuilt, []) == p and blocks


@pytest.mark.parametrize("mode", VISUAL_PROBES.names())
def test_every_visual_probe_with_distance(loaded, mode):
    model, _, inp, cid, cm = batch(loaded, "qwen2_5_vl")
    orig = completion_forward(model, inp, cid, cm, return_hidden=True)
    cf = visual_probe_logprobs(model, inp, cid, cm, mode=mode, generator=torch.Generator().manual_seed(0),
                               return_hidden=True)
    s = counterfactual_score(orig, cf, cm, measure="js", weight=model.lm_head.weight, chunk_size=3)
    assert s.shape == cid.shape and (s[cm.bool()] >= 0).all() and (s[~cm.bool()] == 0).all()


"""Time the scoring work of one training step on the same rollouts (no generation): plain GRPO vs KTR with the
reference probes vs KTR with the cheap probes. Prints the ratios (target: cheap ≤ 1.35× GRPO).

* GRPO: policy forward + backward (log-probs) + reference forward.
* KTR reference: policy fwd+bwd (+ entropy) + reference forward + visual probe with attention mask 0 on the
  placeholders (vision encoder included) + temporal probe on re-processed shuffled frames (processor + full forward).
* KTR cheap: policy fwd+bwd (+ entropy, caches the vision features) + reference forward + visual probe without the
  placeholder tokens (language model only) + fast temporal probe (permuted cached features, language model only).

Shapes in the reference proportions: one video prompt × G completions, video tokens ≈ half of prompt + completion.
The model is the toy "bench" size (vision tower ≈ 20 % of a language-model forward, as at 7B).

    .venv/bin/python benchmarks/bench_ktr_scoring.py [--group 8 --frames 16 --completion 96 --repeats 3]
Measured (CPU, 1 thread, G=8, prompt 184 incl. 128 video tokens, completion 96): GRPO 1.26 s, KTR reference
1.60×, KTR cheap 1.28× (G=4, completion 64: 1.35× / 1.09×).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from video_ktr.ktr import (completion_forward, fast_temporal_probe, make_frame_orders,  # noqa: E402
                           temporal_probe_logprobs, visual_probe_logprobs)
from video_ktr.loss import policy_loss  # noqa: E402


def encode(proc, video: np.ndarray, group: int, order=None) -> dict:
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens first in the "
                                                                                  "clip? Think step by step."}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    v = video if order is None else video[order]
    return dict(proc(text=[text] * group, videos=[v] * group, padding=True, padding_side="left", return_tensors="pt"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--side", type=int, default=112, help="frame side in pixels (112 → 16 video tokens per pair)")
    ap.add_argument("--completion", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = stable on a shared box; 0 = torch default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.toy import build_tiny_vlm

    root = Path(tempfile.mkdtemp()) / "bench"
    build_tiny_vlm(root, size="bench")
    proc = AutoProcessor.from_pretrained(root)
    proc.video_processor.size = {"shortest_edge": 28 * 28, "longest_edge": a.side * a.side}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = AutoModelForImageTextToText.from_pretrained(root, dtype=torch.float32).to(device).train()
    ref_model = AutoModelForImageTextToText.from_pretrained(root, dtype=torch.float32).to(device).eval()
    video = np.random.default_rng(0).integers(0, 255, (a.frames, a.side, a.side, 3), dtype=np.uint8)
    inputs = {k: v.to(device) for k, v in encode(proc, video, a.group).items()}
    g = torch.Generator().manual_seed(0)
    n, t = a.group, a.completion
    hi = min(1000, policy.config.text_config.vocab_size - 16)  # ordinary tokens only (specials are last)
    cid = torch.randint(10, hi, (n, t), generator=g).to(device)
    cmask = torch.ones(n, t, dtype=torch.long, device=device)
    adv = torch.randn(n, generator=g).to(device)
    n_video = int((inputs["input_ids"][0] == policy.config.video_token_id).sum())
    prompt = inputs["input_ids"].shape[1]
    print(f"device={device} G={n} prompt={prompt} (video tokens {n_video}) completion={t}: video share "
          f"{n_video / (prompt + t):.2f} of prompt+completion; params "
          f"{sum(p.numel() for p in policy.parameters()) / 1e6:.1f} M")

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def policy_and_ref(with_entropy: bool, return_vision: bool = False):
        out = completion_forward(policy, inputs, cid, cmask, with_entropy=with_entropy, return_vision=return_vision)
        with torch.no_grad():
            ref = completion_forward(ref_model, inputs, cid, cmask, with_entropy=False)
        return out, ref

    def backward(out, ref):
        loss, _ = policy_loss(out.logp, None, ref.logp, adv, cmask.bool())
        loss.backward()
        policy.zero_grad(set_to_none=True)

    def grpo():
        out, ref = policy_and_ref(False)
        backward(out, ref)

    def ktr_reference():
        out, ref = policy_and_ref(True)
        visual_probe_logprobs(policy, inputs, cid, cmask, mode="mask")
        order = make_frame_orders([a.frames], "shuffle", g)[0]
        shuffled = {k: v.to(device) for k, v in encode(proc, video, n, order).items()}
        temporal_probe_logprobs(policy, shuffled, cid, cmask)
        backward(out, ref)

    def ktr_cheap():
        out, ref = policy_and_ref(True, return_vision=True)
        visual_probe_logprobs(policy, inputs, cid, cmask, mode="drop")
        fast_temporal_probe(policy, inputs, cid, cmask, vision=out.vision, generator=g)
        backward(out, ref)

    variants = {"grpo": grpo, "ktr_reference": ktr_reference, "ktr_cheap": ktr_cheap}
    for fn in variants.values():  # warm-up
        fn()
    times = {k: [] for k in variants}
    for _ in range(a.repeats):
        for k, fn in variants.items():  # interleaved, so drift hits every variant alike
            sync(); t0 = time.perf_counter(); fn(); sync()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"  {k:14s} {v * 1000:8.1f} ms   ({v / med['grpo']:.2f}× GRPO)")
    print(f"  ratios: reference/GRPO = {med['ktr_reference'] / med['grpo']:.2f}, cheap/GRPO = "
          f"{med['ktr_cheap'] / med['grpo']:.2f} (target ≤ 1.35), cheap/reference = "
          f"{med['ktr_cheap'] / med['ktr_reference']:.2f}")


if __name__ == "__main__":
    main()

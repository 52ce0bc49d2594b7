"""Peak memory of per-token log-prob + entropy (forward + backward) at the real Qwen vocabulary (151,936):
chunked LM head (video_ktr.ktr.chunked_token_logprobs) vs the naive full-logits log_softmax path.

Measured (CPU, 2,048 tokens, hidden 256, chunk 256): naive 4,604 MiB extra peak, chunked 600 MiB → 0.13×.
Each variant runs in a fresh subprocess; on CPU the extra peak is the RSS high-water mark (getrusage) minus the
high-water mark after the inputs exist; on CUDA it is torch.cuda.max_memory_allocated. Target: chunked ≤ 0.25×.

    .venv/bin/python benchmarks/bench_logprob_memory.py [--tokens 2048 --hidden 256 --chunk 256]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VOCAB = 151_936


def run_one(variant: str, tokens: int, hidden: int, chunk: int, device: str) -> dict:
    import torch

    from video_ktr.ktr import chunked_token_logprobs, naive_token_logprobs

    torch.manual_seed(0)
    h = torch.randn(tokens, hidden, device=device, requires_grad=True)
    w = (torch.randn(VOCAB, hidden, device=device) * 0.02).requires_grad_(True)
    y = torch.randint(0, VOCAB, (tokens,), device=device)
    # warm up the allocator / kernels on a tiny problem so they do not count
    chunked_token_logprobs(h[:2], w, y[:2], chunk_size=2)[0].sum().backward()
    h.grad = w.grad = None
    if device == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    if variant == "chunked":
        logp, ent = chunked_token_logprobs(h, w, y, chunk_size=chunk)
    else:
        logp, ent = naive_token_logprobs(h @ w.T, y)
    logp.sum().backward()
    if device == "cuda":
        torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"variant": variant, "peak_bytes": peak, "seconds": time.perf_counter() - t0,
            "logp_sum": float(logp.sum()), "ent_sum": float(ent.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=2048, help="completion tokens in the batch (N·T valid)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.child:
        print(json.dumps(run_one(a.child, a.tokens, a.hidden, a.chunk, device)))
        return
    res = {}
    for v in ("naive", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--child", v, "--tokens", str(a.tokens), "--hidden",
                              str(a.hidden), "--chunk", str(a.chunk)], capture_output=True, text=True, check=True)
        res[v] = json.loads(out.stdout.strip().splitlines()[-1])
    full_logits = a.tokens * VOCAB * 4
    print(f"device={device} tokens={a.tokens} hidden={a.hidden} vocab={VOCAB} chunk={a.chunk} "
          f"(one fp32 logits tensor = {full_logits / 2**20:.0f} MiB)")
    for v, r in res.items():
        print(f"  {v:8s} extra peak {r['peak_bytes'] / 2**20:8.0f} MiB   {r['seconds']:.2f} s")
    agree = abs(res["naive"]["logp_sum"] - res["chunked"]["logp_sum"]) / abs(res["naive"]["logp_sum"])
    print(f"  ratio chunked/naive = {res['chunked']['peak_bytes'] / res['naive']['peak_bytes']:.3f} "
          f"(target ≤ 0.25); relative logp-sum difference {agree:.1e}")


if __name__ == "__main__":
    main()

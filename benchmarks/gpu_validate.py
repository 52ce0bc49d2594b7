"""GPU validation of the vLLM rollout path, one command for a GPU box; writes gpu_validate.json + gpu_validate.md.

    python benchmarks/gpu_validate.py --out docs/gpu            # GPU, vLLM installed: (a)-(d)
    python benchmarks/gpu_validate.py --dry-run --out /tmp/gv   # CPU: the same plumbing, an HF stand-in for vLLM

(a) logp gap: G completions per prompt sampled by the engine from a random-weight Qwen2.5-VL (the real Qwen
    vocabulary on a GPU, bf16); mean |logp_engine - logp_policy| of the sampled tokens (policy = the HF model's
    teacher-forced pass the loss uses).
(b) sync: one optimizer step on the policy, ``sync_weights``, then the engine's teacher-forced log-probs of the same
    tokens: the gap to the *new* policy must be about (a)'s, the gap to the *old* policy about the step's change.
(c) rollout tokens/s: the engine vs HF ``generate`` (``HFEngine``), same prompts, same G and max tokens.
(d) step time: KTR vs GRPO (``RLTrainer``, HF rollouts; and vLLM rollouts when vLLM is there).

Works offline (toy model and videos built here) and on torch >= 2.11 / transformers >= 5.17 (a GPU box's stack).
Without vLLM (or with --dry-run) the engine is ``HFStandIn``: a copy of the policy receiving weights through the
same ``iter_hf_weights`` mapping, so (a)-(c) check the measurement code, not vLLM; the report says which engine ran.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch


class HFStandIn:
    """Engine stand-in: samples with HF ``generate`` from its own copy of the policy; weights arrive by name."""

    name = "hf-stand-in"

    def __init__(self, policy, tokenizer, *, max_new_tokens: int):
        self.model, self.tok, self.max_new = copy.deepcopy(policy).eval(), tokenizer, max_new_tokens

    def sync(self, policy) -> int:
        from video_ktr.rollout.weights import iter_hf_weights

        sd = dict(iter_hf_weights(policy))
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
        return len(sd)

    @torch.no_grad()
    def sample(self, batch, g: int):
        from video_ktr.rollout.hf import HFEngine

        ro = HFEngine(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=self.max_new).generate(
            self.model, batch, g, self.tok)
        return ro, self.score(ro)

    @torch.no_grad()
    def score(self, ro):
        from video_ktr.ktr.logprobs import completion_logprobs

        logp, _ = completion_logprobs(self.model, ro.inputs, ro.completion_ids, ro.completion_mask, with_entropy=False)
        return logp.float()


class VLLMProbe:
    """The real engine (``rollout.vllm.VLLMEngine``) plus sampled / teacher-forced log-probs from vLLM."""

    name = "vllm"

    def __init__(self, model_dir: Path, *, max_new_tokens: int, seed: int):
        from video_ktr.rollout.vllm import VLLMEngine

        self.engine = VLLMEngine(model_path=str(model_dir), temperature=1.0, top_p=1.0, top_k=0,
                                 max_new_tokens=max_new_tokens, seed=seed, gpu_memory_utilization=0.3,
                                 max_model_len=4096)
        self.llm = self.engine.llm

    def sync(self, policy) -> int:
        return self.engine.sync_weights(policy)

    def _requests(self, batch, tok):
        from video_ktr.rollout.vllm import build_requests

        return build_requests(tok, batch.texts, batch.media, batch.frame_orders)

    @torch.no_grad()
    def sample(self, batch, g: int, policy, tok):
        from vllm import SamplingParams

        from video_ktr.rollout.vllm import sampling_kwargs, vision_token_strings

        params = SamplingParams(**sampling_kwargs(temperature=1.0, top_p=1.0, top_k=0,
                                                  max_tokens=self.engine.sampling["max_tokens"],
                                                  n=g, seed=0, banned=vision_token_strings(policy.config, tok),
                                                  logprobs=0))
        self.engine.wake()
        outs = self.llm.generate(self._requests(batch, tok), params, use_tqdm=False)
        self.engine.sleep()
        return _rollout_from(outs, batch, g, policy, tok)

    @torch.no_grad()
    def score(self, ro, batch, policy, tok):
        """Teacher-forced: the completion appended to the prompt, ``prompt_logprobs`` of its positions."""
        from vllm import SamplingParams

        reqs = [r for r in self._requests(batch, tok) for _ in range(ro.group_size)]
        for r, ids, m in zip(reqs, ro.completion_ids.tolist(), ro.completion_mask.tolist()):
            r["prompt_token_ids"] = r["prompt_token_ids"] + [i for i, keep in zip(ids, m) if keep]
        self.engine.wake()
        outs = self.llm.generate(reqs, SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)
        self.engine.sleep()
        logp = torch.zeros(ro.completion_ids.shape)
        for i, (o, ids) in enumerate(zip(outs, ro.completion_ids.tolist())):
            n = int(ro.completion_mask[i].sum())
            for j, (tok_id, lp) in enumerate(zip(ids[:n], o.prompt_logprobs[-n:])):
                logp[i, j] = lp[tok_id].logprob
        return logp


def _rollout_from(outs, batch, g, policy, tok):
    """vLLM outputs → (Rollout, sampled log-probs (N, T))."""
    from video_ktr.rollout import Rollout, completion_mask_from_ids, repeat_rows
    from video_ktr.rollout.hf import eos_token_ids

    seqs = [list(c.token_ids) for o in outs for c in o.outputs]
    lps = [[lp[t].logprob for t, lp in zip(c.token_ids, c.logprobs)] for o in outs for c in o.outputs]
    pad, t = policy.generation_config.pad_token_id, max(1, max(len(s) for s in seqs))
    ids, logp = torch.full((len(seqs), t), pad), torch.zeros(len(seqs), t)
    for i, (s, lp) in enumerate(zip(seqs, lps)):
        ids[i, :len(s)], logp[i, :len(lp)] = torch.tensor(s), torch.tensor(lp)
    mask, trunc = completion_mask_from_ids(ids, eos_token_ids(policy))
    mask &= torch.arange(t)[None] < torch.tensor([len(s) for s in seqs])[:, None]
    ro = Rollout(repeat_rows(batch.inputs, g, policy.config), ids.masked_fill(~mask, pad), mask, trunc,
                 tok.batch_decode(ids, skip_special_tokens=True), g)
    return ro, logp


def _to(inputs: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}


def _policy_logp(policy, ro):
    from video_ktr.ktr.logprobs import completion_logprobs

    with torch.no_grad():
        logp, _ = completion_logprobs(policy, _to(ro.inputs, policy.device), ro.completion_ids.to(policy.device),
                                      ro.completion_mask.to(policy.device), with_entropy=False)
    return logp.float().cpu()


def _gap(a, b, mask) -> float:
    m = mask.cpu().bool()
    return float((a.cpu() - b.cpu()).abs()[m].mean())


def _tokens_per_s(fn, ro_mask_of, repeats: int) -> float:
    toks, secs = 0, 0.0
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        secs += time.perf_counter() - t0
        toks += int(ro_mask_of(out).sum())
    return toks / secs


def step_times(model_dir, data_dir, tmp: Path, *, engines: list[str], steps: int, device_cfg: dict) -> dict:
    """(d) median step time (s) per (engine, algorithm), warm-up step dropped."""
    from video_ktr.config import config_from_dict
    from video_ktr.trainer import RLTrainer

    out = {}
    for engine in engines:
        for algo in ("grpo", "ktr"):
            cfg = config_from_dict({
                "algorithm": algo, "model": {"path": str(model_dir), "freeze_vision_tower": True,
                                             **device_cfg.get("model", {})},
                "data": {"train_path": str(data_dir / "train.json"), "cache_media": True},
                "rollout": {"engine": engine, "batch_size": 2, "group_size": 4, "max_new_tokens": 16},
                "trainer": {"output_dir": str(tmp / f"{engine}-{algo}"), "max_steps": steps + 1, "save_every": 0,
                            "log_samples_every": 0, "progress_bar": False, "report_to": [],
                            **device_cfg.get("trainer", {})}})
            hist = RLTrainer(cfg).setup().train()[1:]
            out[f"{engine}/{algo}"] = statistics.median(h["time/step"] for h in hist)
    return out


def run(args) -> dict:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.data import MediaBudget, load_records
    from video_ktr.rollout.hf import HFEngine
    from video_ktr.toy import build_tiny_vlm, build_toy_data
    from video_ktr.trainer.batches import PromptSource

    gpu = torch.cuda.is_available() and not args.dry_run
    try:
        import vllm  # noqa: F401
        have_vllm = True
    except ImportError:
        have_vllm = False
    use_vllm = have_vllm and gpu
    tmp = Path(tempfile.mkdtemp(prefix="gpu_validate_"))
    model_dir = build_tiny_vlm(tmp / "model", size=args.size, tokenizer=args.tokenizer)
    data_dir = build_toy_data(tmp / "data", n=max(16, 2 * args.prompts), n_eval=4)
    device, dtype = ("cuda", torch.bfloat16) if gpu else ("cpu", torch.float32)
    policy = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).to(device)
    proc = AutoProcessor.from_pretrained(model_dir)
    tok = proc.tokenizer
    recs = load_records(data_dir / "train.json").records[:args.prompts]
    batch = PromptSource(recs, proc, batch_size=len(recs), budget=MediaBudget(), template="reasoning", seed=0,
                         shuffle=False).encode(recs)
    batch.inputs = _to(batch.inputs, device)
    g = args.group_size

    engine = VLLMProbe(model_dir, max_new_tokens=args.max_new_tokens, seed=0) if use_vllm else \
        HFStandIn(policy, tok, max_new_tokens=args.max_new_tokens)
    report = {"dry_run": args.dry_run, "engine": engine.name, "vllm_installed": have_vllm, "device": device,
              "dtype": str(dtype).removeprefix("torch."), "model": {"size": args.size, "tokenizer": args.tokenizer,
                                                                       "vocab": len(tok)},
              "versions": {"python": platform.python_version(), "torch": torch.__version__,
                           "transformers": __import__("transformers").__version__,
                           "vllm": __import__("vllm").__version__ if have_vllm else None},
              "gpu": torch.cuda.get_device_name() if gpu else None,
              "prompts": len(recs), "group_size": g, "max_new_tokens": args.max_new_tokens}
    if use_vllm:
        def sample():
            return engine.sample(batch, g, policy, tok)

        def score(ro):
            return engine.score(ro, batch, policy, tok)
    else:
        def sample():
            return engine.sample(batch, g)
        score = engine.score

    # (a) sampled-token log-prob gap
    engine.sync(policy)
    ro, logp_engine = sample()
    logp_policy = _policy_logp(policy, ro)
    report["a_logp_gap"] = {"mean_abs": _gap(logp_engine, logp_policy, ro.completion_mask),
                            "tokens": int(ro.completion_mask.sum())}

    # (b) one optimizer step, sync, the engine follows the new weights
    opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=args.step_lr)
    from video_ktr.ktr.logprobs import completion_logprobs

    policy.train()
    lp, _ = completion_logprobs(policy, _to(ro.inputs, device), ro.completion_ids.to(device),
                                ro.completion_mask.to(device), with_entropy=False)
    (-(lp * ro.completion_mask.to(device)).sum() / ro.completion_mask.sum()).backward()   # SFT on the samples
    opt.step()
    policy.eval()
    before = score(ro)
    pushed = engine.sync(policy)
    after = score(ro)
    new_policy = _policy_logp(policy, ro)
    change = _gap(logp_policy, new_policy, ro.completion_mask)
    gap_after = _gap(after, new_policy, ro.completion_mask)
    report["b_sync"] = {"params_pushed": pushed, "policy_change": change,
                        "engine_before_vs_new_policy": _gap(before, new_policy, ro.completion_mask),
                        "engine_after_vs_new_policy": gap_after,
                        "follows_new_weights": bool(gap_after < 0.1 * change) if change > 0 else None}

    # (c) rollout throughput
    hf = HFEngine(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=args.max_new_tokens)
    report["c_tokens_per_s"] = {
        engine.name: _tokens_per_s(sample, lambda out: out[0].completion_mask, args.repeats),
        "hf_generate": _tokens_per_s(lambda: hf.generate(policy, batch, g, tok), lambda r: r.completion_mask,
                                     args.repeats)}
    report["c_tokens_per_s"]["ratio"] = report["c_tokens_per_s"][engine.name] / report["c_tokens_per_s"]["hf_generate"]

    # (d) KTR vs GRPO step time
    del engine
    dev = {"model": {"dtype": "bfloat16"}, "trainer": {"mixed_precision": "bf16"}} if gpu else {}
    times = step_times(model_dir, data_dir, tmp, engines=["hf"] + (["vllm"] if use_vllm else []),
                       steps=args.steps, device_cfg=dev)
    report["d_step_time_s"] = {**times, **{f"{e}/ratio_ktr_grpo": times[f"{e}/ktr"] / times[f"{e}/grpo"]
                                           for e in ("hf", "vllm") if f"{e}/ktr" in times}}
    return report


def markdown(r: dict) -> str:
    a, b, c, d = r["a_logp_gap"], r["b_sync"], r["c_tokens_per_s"], r["d_step_time_s"]
    v = r["versions"]
    lines = [f"# gpu_validate ({'dry run, ' if r['dry_run'] else ''}engine: {r['engine']})", "",
             f"device {r['device']} ({r['gpu'] or 'no GPU'}), {r['dtype']}; python {v['python']}, torch {v['torch']}, "
             f"transformers {v['transformers']}, vllm {v['vllm'] or 'not installed'}; model {r['model']}; "
             f"{r['prompts']} prompts x G={r['group_size']}, <= {r['max_new_tokens']} new tokens.", ""]
    if r["engine"] != "vllm":
        lines += ["**vLLM did not run**: the engine is an HF stand-in; (a)-(c) check the measurement code only.", ""]
    lines += ["| measurement | value |", "| --- | --- |",
              f"| (a) mean abs logp gap, engine vs policy ({a['tokens']} sampled tokens) | {a['mean_abs']:.2e} |",
              f"| (b) policy change after one step (mean abs logp) | {b['policy_change']:.2e} |",
              f"| (b) engine before sync vs new policy | {b['engine_before_vs_new_policy']:.2e} |",
              f"| (b) engine after sync vs new policy ({b['params_pushed']} tensors pushed) | "
              f"{b['engine_after_vs_new_policy']:.2e} |",
              f"| (b) engine follows the new weights | {b['follows_new_weights']} |"]
    lines += [f"| (c) rollout tokens/s, {k} | {val:.1f} |" for k, val in c.items() if k != "ratio"]
    lines += [f"| (c) ratio engine / HF generate | {c['ratio']:.2f} |"]
    lines += [f"| (d) step time {k} | {val:.3f}{'' if 'ratio' in k else ' s'} |" for k, val in d.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu_validate", help="folder for gpu_validate.json / gpu_validate.md")
    ap.add_argument("--dry-run", action="store_true", help="CPU plumbing check: nano model, toy tokenizer, stand-in")
    ap.add_argument("--size", default=None, help="toy model size (default: bench on GPU, nano in a dry run)")
    ap.add_argument("--tokenizer", default=None, help="qwen (real vocabulary; GPU default) or bpe (dry-run default)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--step-lr", type=float, default=0.5, help="(b): SGD step size (large: the change must show)")
    a = ap.parse_args(argv)
    small = a.dry_run
    for k, dry, real in (("size", "nano", "bench"), ("tokenizer", "bpe", "qwen"), ("prompts", 2, 8),
                         ("max_new_tokens", 8, 128), ("repeats", 1, 3), ("steps", 1, 5)):
        if getattr(a, k) is None:
            setattr(a, k, dry if small else real)
    report = run(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_validate.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_validate.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()

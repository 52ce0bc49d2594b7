"""A small greedy held-out evaluation for training runs (reward mean, accuracy, format rate on the training
prompt/reward set). The benchmark harness with official scorers is ``video_ktr.eval``; this is the trainer's own
quick before/after check on a split in the training schema."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from video_ktr.rewards import compute_rewards
from video_ktr.rollout import build_engine
from video_ktr.trainer.scoring import record_fields


@torch.no_grad()
def greedy_accuracy(model, source, records, *, reward_names, max_new_tokens: int, batch_size: int = 8,
                    out_dir: str | Path | None = None) -> dict[str, float]:
    """Greedy-decode every record once; return {"eval/reward_mean", "eval/accuracy", "eval/format", "eval/n"}."""
    engine = build_engine("hf", temperature=0.0, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens)
    tok = source.processor.tokenizer
    totals, per, rows = [], {n: [] for n in reward_names}, []
    for s in range(0, len(records), batch_size):
        recs = records[s:s + batch_size]
        ro = engine.generate(model, source.encode(recs), 1, tok, greedy=True)
        out = compute_rewards(reward_names, None, ro.texts, record_fields(recs, 1), ro.lengths.tolist(), group_size=1)
        totals += out.total
        for n in reward_names:
            per[n] += out.per_reward[n]
        rows += [{"problem_id": r.problem_id, "completion": t, "reward": v} for r, t, v in zip(recs, ro.texts, out.total)]
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    summary = {"eval/reward_mean": mean(totals), "eval/n": len(totals)}
    summary |= {f"eval/{n}": mean(v) for n, v in per.items()}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (out / "completions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return summary

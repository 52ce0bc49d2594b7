"""``evaluate``: one benchmark × one frame budget → a resumable JSONL of answers, a summary and official exports.

    summary = evaluate("runs/x/checkpoints/step-100", "holmes", "data/Video-Holmes", "runs/x/eval/holmes-f32")

Layout of ``out_dir``: ``run.json`` (what was asked: model, benchmark, scorer, prompt, budget, decoding),
``results.jsonl`` (one line per question, appended per batch), ``summary.json`` + ``summary.md``, and the
benchmark's official result file when it has one. Rerunning with the same settings resumes; other settings raise.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from video_ktr.eval.backends import BACKENDS, Decoding
from video_ktr.eval.benchmarks import BENCHMARKS
from video_ktr.eval.items import EvalItem
from video_ktr.eval.results import (append_results, markdown_table, prompt_hash, read_results, summarize)
from video_ktr.eval.scorers import SCORERS

EVAL_MAX_PIXELS = 256 * 28 * 28  # per-frame pixel cap of the reference eval (Video-R1 eval_bench)
# Keys of run.json that must match for a rerun to resume into the same directory.
RESUME_KEYS = ("bench", "scorer", "template", "budget", "decoding", "model")


def eval_budget(frames: int | None = 32, max_pixels: int = EVAL_MAX_PIXELS, video_time: str = "absolute"):
    """The frame/pixel budget of an eval run: exactly ``frames`` uniform frames (None: 2 fps, 4–16 frames);
    video_time: M-RoPE times as the checkpoint was trained (absolute | reference, see MediaBudget)."""
    from video_ktr.data import MediaBudget

    if frames is None:
        return MediaBudget(video_max_pixels=max_pixels, video_time=video_time)
    return MediaBudget(nframes=frames, max_frames=max(frames, 16), video_max_pixels=max_pixels, video_time=video_time)


def make_backend(model, *, backend: str = "hf", decoding: Decoding | None = None, **kwargs):
    """A generation backend from a checkpoint path, a (model, processor) pair, or a ready backend (returned)."""
    if hasattr(model, "generate") and hasattr(model, "patch_multiple"):
        return model
    if isinstance(model, tuple):
        return BACKENDS.get("hf")(model[0], model[1], decoding)
    return BACKENDS.get(backend).load(model, decoding, **kwargs)


def _model_name(model) -> str:
    if isinstance(model, (str, Path)):
        return str(model)
    m = model[0] if isinstance(model, tuple) else getattr(model, "model", None)
    return str(getattr(m, "name_or_path", "") or type(m).__name__)


def _check_resume(out: Path, run: dict, overwrite: bool) -> None:
    path, results = out / "run.json", out / "results.jsonl"
    if overwrite:
        results.unlink(missing_ok=True)
    elif path.exists() and results.exists():
        old = json.loads(path.read_text())
        diff = [k for k in RESUME_KEYS if old.get(k) != run.get(k)]
        if diff:
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {run.get(k)!r}" for k in diff)
            raise ValueError(f"{out} holds results of a different run ({changes}); pass another out dir, or "
                             f"overwrite=True (--overwrite) to start over")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=2))


def evaluate(model, bench: str, data_dir: str | Path, out_dir: str | Path, *, frames: int | None = 32,
             max_pixels: int = EVAL_MAX_PIXELS, scorer: str | None = None, template: str | None = None,
             decoding: Decoding | None = None, batch_size: int = 8, limit: int | None = None,
             on_missing: str = "raise", backend: str = "hf", overwrite: bool = False,
             progress: Callable[[int, int], None] | None = None, model_name: str | None = None,
             video_time: str = "absolute") -> dict:
    """Evaluate ``model`` on ``bench`` (a ``BENCHMARKS`` name) read from ``data_dir``; write into ``out_dir``.

    model: checkpoint path, (model, processor) pair, or a backend from ``make_backend`` (reused across calls).
    frames: exact frames per video (16/32/64; None = the 2-fps training sampling); max_pixels: per-frame cap.
    scorer / template: override the benchmark's official scorer / prompt. limit: first N questions only.
    on_missing: "raise" | "skip" questions whose media file is missing. progress(done, total) after each batch.
    Returns the summary dict (also written to ``summary.json``).
    """
    from video_ktr.data import build_prompt, load_media, prompt_template

    b = BENCHMARKS.get(bench)
    sc = SCORERS.get(scorer or b.scorer)
    template = template or b.template
    prompt_template(template)  # a registered name or a template file; loud otherwise
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    decoding = decoding or Decoding()
    loaded = b.load(Path(data_dir), on_missing=on_missing)
    items = loaded.items[:limit] if limit else loaded.items
    budget = eval_budget(frames, max_pixels, video_time)
    run = {"bench": bench, "data": str(data_dir), "split": b.split, "model": model_name or _model_name(model),
           "scorer": sc.name, "template": template, "budget": budget.as_dict(), "decoding": decoding.as_dict(),
           "backend": backend, "num_questions": len(items), "load": loaded.summary()}
    out = Path(out_dir)
    _check_resume(out, run, overwrite)
    results_path = out / "results.jsonl"
    rows, dropped = read_results(results_path)
    hashes = {it.id: prompt_hash(build_prompt(it.to_record(bench), template), it.media_path, run["budget"])
              for it in items}
    stale = [r["id"] for r in rows if r["id"] in hashes and r["prompt_hash"] != hashes[r["id"]]]
    if stale:
        raise ValueError(f"{results_path}: {len(stale)} finished questions were asked with another prompt or media "
                         f"(e.g. id {stale[0]!r}); the annotations changed — use another out dir or --overwrite")
    done = {r["id"] for r in rows}
    todo = [it for it in items if it.id not in done]
    gen = make_backend(model, backend=backend, decoding=decoding) if todo else None
    num_done = len(items) - len(todo)
    if progress:
        progress(num_done, len(items))
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        rows_new = _run_batch(gen, sc, batch, bench, template, budget, hashes,
                              seed=decoding.seed + num_done, load_media=load_media)
        append_results(results_path, rows_new)
        rows += rows_new
        num_done += len(batch)
        if progress:
            progress(num_done, len(items))
    summary = {**run, **summarize(rows, items, answered_only=sc.answered_only), "answered_only": sc.answered_only,
               "dropped_partial_line": bool(dropped), "exports": {}}
    if b.export and rows:
        summary["exports"][bench] = str(b.export(rows, items, out))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown_table(summary))
    return summary


def _run_batch(gen, sc, batch: list[EvalItem], bench: str, template: str, budget, hashes: dict, *, seed: int,
               load_media) -> list[dict]:
    records = [it.to_record(bench) for it in batch]
    media = [load_media(r, budget, gen.patch_multiple()) for r in records]
    t0 = time.perf_counter()
    outs = gen.generate(records, media, template, seed=seed)
    per_item = (time.perf_counter() - t0) / len(batch)
    rows = []
    for it, g, m in zip(batch, outs, media):
        j = sc.judge(g.text, it)
        rows.append({"id": it.id, "prompt_hash": hashes[it.id], "output": g.text, "pred": j.pred,
                     "answer": it.answer, "score": j.score, "correct": j.correct, "answered": j.answered,
                     "groups": it.groups, "num_tokens": g.num_tokens, "num_frames": m.num_frames,
                     "time_s": round(per_item, 4)})
    return rows

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


ON_BAD_MEDIA = ("skip", "raise")


class LazyBackend:
    """A backend that loads its model on first use: a rerun with nothing left to generate never loads it."""

    def __init__(self, model, **kwargs):
        self._args, self._kwargs, self._backend = model, kwargs, None

    def get(self):
        if self._backend is None:
            self._backend = make_backend(self._args, **self._kwargs)
        return self._backend

    def patch_multiple(self) -> int:
        return self.get().patch_multiple()

    def generate(self, *args, **kwargs):
        return self.get().generate(*args, **kwargs)


def evaluate(model, bench: str, data_dir: str | Path, out_dir: str | Path, *, frames: int | None = 32,
             max_pixels: int = EVAL_MAX_PIXELS, budget=None, scorer: str | None = None,
             template: str | None = None, decoding: Decoding | None = None, batch_size: int = 8,
             limit: int | None = None, on_missing: str = "raise", on_bad_media: str = "skip", backend: str = "hf",
             overwrite: bool = False, progress: Callable[[int, int], None] | None = None,
             model_name: str | None = None, video_time: str = "absolute") -> dict:
    """Evaluate ``model`` on ``bench`` (a ``BENCHMARKS`` name) read from ``data_dir``; write into ``out_dir``.

    model: checkpoint path, (model, processor) pair, or a backend from ``make_backend`` (reused across calls).
    frames: exact frames per video (16/32/64; None = the 2-fps training sampling); max_pixels: per-frame cap;
    budget: a full ``MediaBudget`` instead (e.g. a training run's: ``trainer.batches.media_budget(cfg.data)``).
    video_time: with ``frames``: M-RoPE times as the checkpoint was trained (absolute | reference, MediaBudget).
    scorer / template: override the benchmark's official scorer / prompt. limit: first N questions only.
    on_missing: "raise" | "skip" questions whose media file is missing when the annotations are read.
    on_bad_media: "skip" (default) | "raise" for media that cannot be decoded during the run: a skip is written
    as a result line (so a rerun does not retry it) and counted in the summary's ``skipped``.
    progress(done, total) after each batch. Returns the summary dict (also written to ``summary.json``).
    """
    from video_ktr.data import build_prompt, prompt_template

    b = BENCHMARKS.get(bench)
    sc = SCORERS.get(scorer or b.scorer)
    template = template or b.template
    prompt_template(template)  # a registered name or a template file; loud otherwise
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    if on_bad_media not in ON_BAD_MEDIA:
        raise ValueError(f"on_bad_media={on_bad_media!r}; choose one of {ON_BAD_MEDIA}")
    decoding = decoding or Decoding()
    loaded = b.load(Path(data_dir), on_missing=on_missing)
    items = loaded.items[:limit] if limit else loaded.items
    budget = budget or eval_budget(frames, max_pixels, video_time)
    run = {"bench": bench, "data": str(data_dir), "split": b.split, "model": model_name or _model_name(model),
           "scorer": sc.name, "template": template, "budget": budget.as_dict(), "decoding": decoding.as_dict(),
           "backend": backend, "num_questions": len(items), "load": loaded.summary(),
           "load_warnings": loaded.warnings, "missing_media": len(loaded.missing)}
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
        rows_new = _run_batch(gen, sc, batch, bench, template, budget, hashes, seed=decoding.seed + num_done,
                              on_bad_media=on_bad_media)
        append_results(results_path, rows_new)
        rows += rows_new
        num_done += len(batch)
        if progress:
            progress(num_done, len(items))
    summary = {**run, **summarize(rows, items, answered_only=sc.answered_only), "answered_only": sc.answered_only,
               "dropped_partial_line": bool(dropped), "exports": {}}
    if b.export and rows:
        summary["exports"][bench] = str(b.export([r for r in rows if not r.get("skipped")], items, out))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown_table(summary))
    return summary


def _run_batch(gen, sc, batch: list[EvalItem], bench: str, template: str, budget, hashes: dict, *, seed: int,
               on_bad_media: str = "skip") -> list[dict]:
    from video_ktr.data.media import MediaError
    from video_ktr.eval.media import load_item_media

    rows, ok, media = [], [], []
    for it in batch:
        record = it.to_record(bench)
        try:
            m = load_item_media(it, record, budget, gen.patch_multiple())
        except MediaError as e:
            if on_bad_media == "raise":
                raise MediaError(f"question {it.id!r}: {e}; pass on_bad_media='skip' (--bad-media skip) to count "
                                 f"it as a skip and go on", e.reason) from e
            rows.append({"id": it.id, "prompt_hash": hashes[it.id], "skipped": e.reason, "error": str(e),
                         "media": str(it.media_path), "groups": it.groups})
            continue
        ok.append((it, record))
        media.append(m)
    if not ok:
        return rows
    t0 = time.perf_counter()
    outs = gen.generate([r for _, r in ok], media, template, seed=seed)
    per_item = (time.perf_counter() - t0) / len(ok)
    for (it, _), g, m in zip(ok, outs, media):
        j = sc.judge(g.text, it)
        rows.append({"id": it.id, "prompt_hash": hashes[it.id], "output": g.text, "pred": j.pred,
                     "answer": it.answer, "score": j.score, "correct": j.correct, "answered": j.answered,
                     "dropped": j.dropped, "capped": j.capped, "metric": _metric(it), "groups": it.groups,
                     "num_tokens": g.num_tokens, "num_frames": m.num_frames, "time_s": round(per_item, 4)})
    return rows


def _metric(item: EvalItem) -> str:
    """Video-R1 reports regression (mean relative accuracy) apart from accuracy."""
    return "mra" if item.problem_type == "regression" else "accuracy"

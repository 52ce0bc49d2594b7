"""Results on disk: a crash-safe JSONL of per-question lines, and the summary (JSON + markdown) built from it.

Each batch is appended, flushed and fsync'ed, so a kill loses at most the batch in flight. A partially written
last line (no trailing newline, or not valid JSON) is detected on reopen, reported and truncated away; the rerun
then regenerates exactly the ids that have no complete line — nothing is lost or duplicated.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

from video_ktr.eval.items import EvalItem

RESULT_KEYS = ("id", "prompt_hash", "output", "pred", "answer", "score", "correct", "answered", "groups",
               "num_tokens", "time_s")


def prompt_hash(prompt: str, media_path: str | Path, budget: dict) -> str:
    """Short content hash of what the model is shown: prompt text, media file and frame/pixel budget."""
    blob = json.dumps([prompt, str(media_path), budget], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_results(path: Path, *, repair: bool = True) -> tuple[list[dict], int]:
    """(complete result lines, bytes of a dropped partial last line). With ``repair`` the partial tail is truncated
    off the file. A corrupt line *before* the last one is not a crash artefact: it raises."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()                                   # b"" when the file ends with a newline
    rows, good_bytes = [], 0
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1 and not tail:         # a last line with newline but torn content
                tail = line + b"\n"
                break
            raise ValueError(f"{path}: line {i + 1} is not valid JSON and is not the last line; the file was "
                             f"edited or corrupted — fix or delete it") from None
        good_bytes += len(line) + 1
    if tail and repair:
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
            f.flush()
            os.fsync(f.fileno())
    return rows, len(tail)


def append_results(path: Path, rows: list[dict]) -> None:
    """Append ``rows`` as JSON lines; flush + fsync before returning (one call per generated batch)."""
    if not rows:
        return
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def _cell(total: int, answered: int, score: float, answered_only: bool) -> dict:
    denom = answered if answered_only else total
    return {"accuracy": 100.0 * score / denom if denom else None, "score_sum": score, "answered": answered,
            "total": total}


def summarize(rows: list[dict], items: list[EvalItem], *, answered_only: bool) -> dict:
    """Overall and per-group accuracy (percent) with counts. Items without a result line count as ``missing``
    (never as wrong). answered_only: the denominator is the answered questions (VideoMME official)."""
    by_id = {r["id"]: r for r in rows}
    done = [by_id[it.id] for it in items if it.id in by_id]
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0.0]))
    for r in done:
        for key, value in r["groups"].items():
            g = groups[key][value]
            g[0] += 1
            g[1] += int(r["answered"])
            g[2] += r["score"]
    overall = _cell(len(done), sum(r["answered"] for r in done), sum(r["score"] for r in done), answered_only)
    return {
        "overall": overall,
        "groups": {k: {v: _cell(*c, answered_only) for v, c in sorted(vals.items())} for k, vals in groups.items()},
        "num_questions": len(items), "num_done": len(done), "missing": len(items) - len(done),
        "mean_time_s": sum(r["time_s"] for r in done) / len(done) if done else None,
        "mean_tokens": sum(r["num_tokens"] for r in done) / len(done) if done else None,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def markdown_table(summary: dict) -> str:
    """A summary as markdown: a header naming benchmark, model, scorer and budget, then overall + per-group rows."""
    s, b = summary, summary["budget"]
    denom = "answered" if s["answered_only"] else "all questions"
    frames = f"{b['nframes']} frames" if b.get("nframes") else f"{b.get('fps')} fps ≤ {b.get('max_frames')} frames"
    lines = [f"### {s['bench']} — {s['model']}", "",
             f"scorer `{s['scorer']}` (accuracy over {denom}) · prompt `{s['template']}` · {frames}, ≤ "
             f"{b['video_max_pixels']} px/frame · decoding {s['decoding']}", "",
             "| group | value | accuracy % | correct | answered | total |", "|---|---|---:|---:|---:|---:|"]

    def row(group: str, value: str, c: dict) -> str:
        return (f"| {group} | {value} | {_pct(c['accuracy'])} | {c['score_sum']:g} | {c['answered']} | "
                f"{c['total']} |")

    lines.append(row("**overall**", "", s["overall"]))
    for key, vals in s["groups"].items():
        lines += [row(key, value, c) for value, c in vals.items()]
    if s.get("missing"):
        lines += ["", f"{s['missing']} of {s['num_questions']} questions have no result yet (rerun to resume)."]
    return "\n".join(lines) + "\n"

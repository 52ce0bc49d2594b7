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


def _cell(total: int, answered: int, score: float, answered_only: bool, dropped: int = 0) -> dict:
    denom = answered if answered_only else total - dropped
    return {"accuracy": 100.0 * score / denom if denom else None, "score_sum": score, "answered": answered,
            "total": total, "dropped": dropped}


def _cells(rows: list[dict], answered_only: bool) -> dict:
    return _cell(len(rows), sum(bool(r["answered"]) for r in rows), sum(r["score"] for r in rows), answered_only,
                 sum(bool(r.get("dropped")) for r in rows))


def summarize(rows: list[dict], items: list[EvalItem], *, answered_only: bool) -> dict:
    """Overall and per-group scores (percent) with counts, as the benchmarks report them.

    Items without a result line count as ``missing`` (never as wrong); items whose media could not be decoded
    are ``skipped`` (by reason) and outputs the benchmark drops (VideoMMMU's empty responses) are left out of the
    denominators. answered_only: the denominator is the answered questions (VideoMME official). Regression items
    (Video-R1) are reported apart as ``mra`` (mean relative accuracy, percent); ``overall`` is the accuracy of
    the other items, as Video-R1's ``mean_acc`` / ``mean_mra``.
    """
    by_id = {r["id"]: r for r in rows}
    done = [by_id[it.id] for it in items if it.id in by_id]
    skipped = [r for r in done if r.get("skipped")]
    scored = [r for r in done if not r.get("skipped")]
    acc_rows = [r for r in scored if r.get("metric", "accuracy") == "accuracy"]
    mra_rows = [r for r in scored if r.get("metric") == "mra"]
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in scored:
        suffix = " (MRA)" if r.get("metric") == "mra" else ""      # never blend MRA into an accuracy cell
        for key, value in r["groups"].items():
            groups[key + suffix][value].append(r)
    skip_reasons: dict[str, int] = defaultdict(int)
    for r in skipped:
        skip_reasons[r["skipped"]] += 1
    return {
        "overall": _cells(acc_rows, answered_only),
        **({"mra": _cells(mra_rows, False)} if mra_rows else {}),
        "groups": {k: {v: _cells(rs, answered_only) for v, rs in sorted(vals.items())} for k, vals in groups.items()},
        "num_questions": len(items), "num_done": len(done), "missing": len(items) - len(done),
        "skipped": dict(skip_reasons), "skipped_media": [r["media"] for r in skipped][:20],
        "dropped": sum(bool(r.get("dropped")) for r in scored), "capped": sum(bool(r.get("capped")) for r in scored),
        "mean_time_s": sum(r["time_s"] for r in scored) / len(scored) if scored else None,
        "mean_tokens": sum(r["num_tokens"] for r in scored) / len(scored) if scored else None,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def budget_text(b: dict) -> str:
    """"32 frames, ≤ 200704 px/frame" or "2.0 fps, 4–16 frames, ≤ 100352 px/frame"."""
    frames = (f"{b['nframes']} frames" if b.get("nframes") else
              f"{b.get('fps')} fps, {b.get('min_frames')}–{b.get('max_frames')} frames")
    return f"{frames}, ≤ {b['video_max_pixels']} px/frame"


def markdown_table(summary: dict) -> str:
    """A summary as markdown: a header naming benchmark, model, scorer, prompt, budget and decoding, then overall
    (+ MRA) and per-group rows, then skips, drops and load warnings."""
    s = summary
    denom = "answered" if s["answered_only"] else "all questions"
    lines = [f"### {s['bench']} — {s['model']}", "",
             f"scorer `{s['scorer']}` (accuracy over {denom}) · prompt `{s['template']}` · "
             f"{budget_text(s['budget'])} · decoding {s['decoding']}", "",
             "| group | value | score % | correct | answered | total |", "|---|---|---:|---:|---:|---:|"]

    def row(group: str, value: str, c: dict) -> str:
        return (f"| {group} | {value} | {_pct(c['accuracy'])} | {c['score_sum']:g} | {c['answered']} | "
                f"{c['total']} |")

    lines.append(row("**accuracy**", "", s["overall"]))
    if "mra" in s:
        lines.append(row("**MRA** (regression)", "", s["mra"]))
    for key, vals in s["groups"].items():
        lines += [row(key, value, c) for value, c in vals.items()]
    notes = []
    if s.get("skipped"):
        notes.append(f"skipped (media could not be decoded): {sum(s['skipped'].values())} "
                     f"({', '.join(f'{k}: {v}' for k, v in s['skipped'].items())}), e.g. {s['skipped_media'][:3]}")
    if s.get("missing_media"):
        notes.append(f"{s['missing_media']} questions left out at load for missing media (--skip-missing)")
    if s.get("dropped"):
        notes.append(f"{s['dropped']} empty outputs dropped from the denominator (the benchmark's rule)")
    if s.get("capped"):
        notes.append(f"{s['capped']} outputs parsed on their tail only (longer than the parser's cap)")
    for why, n in (s.get("load_warnings") or {}).items():
        notes.append(f"warning: {n} {why}")
    if s.get("missing"):
        notes.append(f"{s['missing']} of {s['num_questions']} questions have no result yet (rerun to resume)")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"

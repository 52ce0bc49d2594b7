"""Exports to the benchmarks' official result formats, so a run can be cross-checked with their own scripts."""
from __future__ import annotations

import json
from pathlib import Path

from video_ktr.eval.items import EvalItem


def export_videomme(rows: list[dict], items: list[EvalItem], out: Path) -> Path:
    """VideoMME ``eval_your_results.py`` input: one entry per video with its questions and a "response" each."""
    by_id = {r["id"]: r for r in rows}
    videos: dict[str, dict] = {}
    for it in items:
        if it.id not in by_id:
            continue
        e = it.extra
        v = videos.setdefault(str(e.get("video_id")), {
            "video_id": e.get("video_id"), "duration": e.get("duration"), "domain": e.get("domain"),
            "sub_category": e.get("sub_category"), "url": e.get("url"), "videoID": e.get("videoID"),
            "questions": []})
        v["questions"].append({"question_id": it.id, "task_type": e.get("task_type"), "question": it.question,
                               "options": it.options, "answer": it.answer, "response": by_id[it.id]["output"]})
    path = out / "videomme_results.json"
    path.write_text(json.dumps(list(videos.values()), indent=1, ensure_ascii=False))
    return path


def export_holmes(rows: list[dict], items: list[EvalItem], out: Path) -> Path:
    """Video-Holmes per-question answers: the official fields plus the raw output and the extracted letter."""
    by_id = {r["id"]: r for r in rows}
    answers = [{"Question ID": it.extra.get("question_id", it.id), "video ID": it.extra.get("video_id"),
                "Question Type": it.groups["type"], "Answer": it.answer, "model_output": by_id[it.id]["output"],
                "model_answer": by_id[it.id]["pred"], "correct": by_id[it.id]["correct"]}
               for it in items if it.id in by_id]
    path = out / "holmes_answers.json"
    path.write_text(json.dumps(answers, indent=1, ensure_ascii=False))
    return path

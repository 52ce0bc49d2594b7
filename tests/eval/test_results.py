"""Summaries as the benchmarks report them: Video-R1 accuracy and MRA apart, VideoMME over answered questions per
duration/domain/task, VideoMMMU's dropped empty responses, skips counted apart; the markdown header names scorer,
prompt, budget and decoding."""
from __future__ import annotations

from pathlib import Path

import pytest

from video_ktr.eval.items import EvalItem
from video_ktr.eval.results import markdown_table, summarize


def it(i, ptype="multiple choice", **groups):
    return EvalItem(id=str(i), question="?", options=[], answer="A", problem_type=ptype, data_type="video",
                    media_path=Path("v.mp4"), groups=groups)


def row(i, score, answered=True, metric="accuracy", dropped=False, **groups):
    return {"id": str(i), "score": score, "answered": answered, "metric": metric, "dropped": dropped,
            "groups": groups, "time_s": 0.1, "num_tokens": 5}


def test_video_r1_accuracy_and_mra_apart():
    items = [it(0), it(1), it(2, "regression"), it(3, "regression")]
    rows = [row(0, 1.0, data_source="vsi"), row(1, 0.0, data_source="vsi"),
            row(2, 0.7, metric="mra", data_source="vsi"), row(3, 0.2, metric="mra", data_source="vsi")]
    s = summarize(rows, items, answered_only=False)
    assert s["overall"]["accuracy"] == 50.0 and s["overall"]["total"] == 2
    assert s["mra"]["accuracy"] == pytest.approx(45.0) and s["mra"]["total"] == 2
    assert s["groups"]["data_source"]["vsi"]["accuracy"] == 50.0                  # per source: apart as well
    assert s["groups"]["data_source (MRA)"]["vsi"]["accuracy"] == pytest.approx(45.0)


def test_videomme_answered_only_per_group_and_dropped_and_skips():
    items = [it(i, duration=d, task_type="OCR Problems") for i, d in enumerate(["short", "short", "long", "long"])]
    rows = [row(0, 1.0, duration="short", task_type="OCR Problems"),
            row(1, 0.0, answered=False, duration="short", task_type="OCR Problems"),
            row(2, 0.0, duration="long", task_type="OCR Problems"),
            {"id": "3", "skipped": "corrupt", "media": "bad.mp4", "groups": {"duration": "long"}}]
    s = summarize(rows, items, answered_only=True)
    assert s["groups"]["duration"]["short"]["accuracy"] == 100.0          # 1 correct / 1 answered
    assert s["groups"]["duration"]["long"]["accuracy"] == 0.0 and s["groups"]["duration"]["long"]["total"] == 1
    assert s["skipped"] == {"corrupt": 1} and s["skipped_media"] == ["bad.mp4"] and s["missing"] == 0
    d = summarize([row(0, 1.0), row(1, 0.0, answered=False, dropped=True)], items[:2], answered_only=False)
    assert d["overall"]["accuracy"] == 100.0 and d["dropped"] == 1        # VideoMMMU: empty output not counted
    md = markdown_table({**s, "bench": "videomme", "model": "m", "scorer": "videomme", "template": "reasoning",
                         "budget": {"nframes": 32, "video_max_pixels": 200704}, "decoding": {"temperature": 0.1},
                         "answered_only": True})
    assert "scorer `videomme` (accuracy over answered)" in md and "32 frames" in md and "temperature" in md
    assert "skipped (media could not be decoded): 1" in md

"""Adapters read each benchmark's released format, validate rows, and say what is missing."""
from __future__ import annotations

import json
import shutil

import pytest

from video_ktr.eval import BENCHMARKS
from video_ktr.eval.adapters import load_holmes, load_mmvu, load_video_r1, load_videomme, load_videommmu


@pytest.fixture
def clip(toy_data):
    return next((toy_data / "holmes" / "videos").glob("*.mp4"))


def test_holmes_reads_release_format(toy_data):
    load = load_holmes(toy_data / "holmes")
    assert load.items and all(it.problem_type == "multiple choice" for it in load.items)
    it = load.items[0]
    assert it.options[0].startswith("A. ") and it.groups["type"] in ("SR", "IMC", "TCI", "TA", "MHR", "PAR", "CTI")


def test_holmes_missing_videos_and_bad_rows(toy_data, tmp_path):
    shutil.copy(toy_data / "holmes" / "test_Video-Holmes.json", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"media files are missing \(expected at .*videos/<video ID>.mp4"):
        load_holmes(tmp_path)
    assert load_holmes(tmp_path, on_missing="skip").items == []
    rows = json.loads((tmp_path / "test_Video-Holmes.json").read_text())
    rows[0]["Answer"] = "Z"
    (tmp_path / "test_Video-Holmes.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match="row 0.*Answer 'Z' is not an option"):
        load_holmes(tmp_path)
    del rows[0]["Question Type"]
    (tmp_path / "test_Video-Holmes.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match="missing field 'Question Type'"):
        load_holmes(tmp_path)


def test_videomme_rows(tmp_path, clip):
    (tmp_path / "data").mkdir()
    shutil.copy(clip, tmp_path / "data" / "yt123.mp4")
    row = {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "History",
           "url": "https://www.youtube.com/watch?v=yt123", "videoID": "yt123", "question_id": "001-1",
           "task_type": "Counting Problem", "question": "How many?", "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
           "answer": "C"}
    (tmp_path / "videomme.json").write_text(json.dumps([row, {**row, "question_id": "001-2"}]))
    load = load_videomme(tmp_path)
    assert [it.id for it in load.items] == ["001-1", "001-2"]
    assert load.items[0].groups == {"duration": "short", "domain": "Knowledge", "sub_category": "History",
                                    "task_type": "Counting Problem"}
    rows = [{"id": it.id, "output": "The best answer is C"} for it in load.items]
    out = json.loads(BENCHMARKS.get("videomme").export(rows, load.items, tmp_path).read_text())
    assert len(out) == 1 and [q["response"] for q in out[0]["questions"]] == ["The best answer is C"] * 2


def test_mmvu_keeps_multiple_choice(tmp_path, clip):
    (tmp_path / "videos" / "Art").mkdir(parents=True)
    shutil.copy(clip, tmp_path / "videos" / "Art" / "0.mp4")
    url = "https://huggingface.co/datasets/yale-nlp/MMVU/resolve/main/videos/Art/0.mp4"
    rows = [{"id": "a", "video": url, "question": "q", "question_type": "multiple-choice",
             "choices": {"A": "x", "B": "y", "C": "z", "D": "w", "E": "v"}, "answer": "E",
             "metadata": {"subject": "Art"}},
            {"id": "b", "video": url, "question": "q", "question_type": "open-ended", "choices": {}, "answer": "x",
             "metadata": {"subject": "Art"}}]
    (tmp_path / "validation.json").write_text(json.dumps(rows))
    load = load_mmvu(tmp_path)
    assert [it.id for it in load.items] == ["a"] and load.items[0].options[-1] == "E. v"
    assert "1 left out" in load.summary()


def test_videommmu_tracks(tmp_path, clip):
    (tmp_path / "videos").mkdir()
    for track in ("Perception", "Comprehension", "Adaptation"):
        (tmp_path / track).mkdir()
        qid = f"{track.lower()}_1"
        shutil.copy(clip, tmp_path / "videos" / f"{qid}.mp4")
        rows = [{"id": qid, "question": "q", "options": ["x", "y", "z"], "answer": "B",
                 "question_type": "multiple-choice"}]
        if track == "Adaptation":
            rows.append({"id": f"{qid}b", "question": "q", "options": [], "answer": "12.5", "question_type": "open"})
            shutil.copy(clip, tmp_path / "videos" / f"{qid}b.mp4")
        (tmp_path / track / "test.json").write_text(json.dumps(rows))
    load = load_videommmu(tmp_path)
    assert len(load.items) == 4
    assert load.items[0].options == ["A. x", "B. y", "C. z"]
    assert load.items[-1].problem_type == "numerical" and load.items[-1].groups["track"] == "Adaptation"


def test_video_r1_json(toy_data):
    load = load_video_r1(toy_data)                   # the folder: picks eval.json
    assert len(load.items) == 10 and {it.data_type for it in load.items} <= {"video", "image"}


def test_missing_folder_says_what(tmp_path):
    with pytest.raises(FileNotFoundError, match="no annotation file"):
        load_holmes(tmp_path)
    with pytest.raises(FileNotFoundError, match="Perception"):
        load_videommmu(tmp_path)


@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_every_benchmark_names_known_scorer_and_prompt(name):
    from video_ktr.data import PROMPTS
    from video_ktr.eval import SCORERS

    b = BENCHMARKS.get(name)
    assert b.scorer in SCORERS and b.template in PROMPTS and b.split

"""Adapters read each benchmark's released format, validate rows, and say what is missing."""
from __future__ import annotations

import json
import shutil

import pytest

from video_ktr.eval import BENCHMARKS
from video_ktr.eval.adapters import load_holmes, load_mmvu, load_videomme, read_rows
from video_ktr.eval.adapters_more import load_video_r1, load_videommmu


@pytest.fixture
def clip(toy_data):
    return next((toy_data / "holmes" / "videos").glob("*.mp4"))


def test_holmes_reads_release_format(toy_data):
    load = load_holmes(toy_data / "holmes")
    assert load.items and all(it.problem_type == "multiple choice" for it in load.items)
    it = load.items[0]
    assert it.options[0].startswith("A. ") and it.groups["type"] in ("SR", "IMC", "TCI", "TA", "MHR", "PAR", "CTI")
    assert it.id == f"{it.extra['video_id']}/{it.extra['question_id']}"


def test_holmes_question_ids_repeat_across_films(tmp_path):
    """The official example files number questions per film (1, 2, …): items are keyed by (video ID, Question ID)."""
    rows = [{"video ID": vid, "Question ID": qid, "Question Type": "SR", "Question": "Who?",
             "Options": {"A": "x", "B": "y", "C": "z", "D": "w", "E": "v", "F": "u"}, "Answer": "C",
             "Explanation": "."} for vid in ("RSmjqss0XKQ", "dGS48Kcax5k") for qid in ("1", "2")]
    (tmp_path / "test_Video-Holmes.json").write_text(json.dumps(rows))
    load = load_holmes(tmp_path, check_media=False)
    assert [it.id for it in load.items] == ["RSmjqss0XKQ/1", "RSmjqss0XKQ/2", "dGS48Kcax5k/1", "dGS48Kcax5k/2"]


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


def videommmu_row(rid, qtype="multiple-choice", options=("x", "y", "z"), answer="B"):
    return {"id": rid, "question": "q <image 1>", "options": list(options), "answer": answer,
            "question_type": qtype, "image": None, "link_selected": "https://youtu.be/x"}


def test_videommmu_release_json_layout(tmp_path, clip):
    """The release: one JSON per track, {"<Track>": {"0": row, …}}; ids repeat across tracks; a pre-lettered
    option; a question_type null row (open)."""
    (tmp_path / "videos").mkdir()
    for track in ("Perception", "Comprehension", "Adaptation"):
        rows = {"0": videommmu_row("validation_Art_1"),
                "1": videommmu_row("validation_Math_2", options=["A: 3", "B: 4", "M: 5"], answer="C")}
        if track == "Adaptation":
            rows["2"] = videommmu_row("validation_Physics_3", qtype=None, options=[], answer="12.5")
        (tmp_path / f"{track.lower()}_video.json").write_text(json.dumps({track: rows}))
    for rid in ("validation_Art_1", "validation_Math_2", "validation_Physics_3"):
        shutil.copy(clip, tmp_path / "videos" / f"{rid}.mp4")
    load = load_videommmu(tmp_path)
    assert len(load.items) == 7 and len({it.id for it in load.items}) == 7            # unique by construction
    assert load.items[0].id == "Perception/validation_Art_1"
    assert load.items[0].options == ["A. x", "B. y", "C. z"]
    lettered = load.items[1]
    assert lettered.options == ["A. A: 3", "B. B: 4", "C. M: 5"] and lettered.extra["raw_options"][2] == "M: 5"
    open_ = load.items[-1]
    assert open_.extra["question_type"] is None and open_.problem_type == "numerical" and not open_.options
    assert "question_type null" in load.summary()


def test_videommmu_parquet_layout(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    for track in ("Perception", "Comprehension", "Adaptation"):
        (tmp_path / track).mkdir()
        rows = [videommmu_row("validation_Art_1"), videommmu_row("validation_Bio_2", qtype="open", options=[],
                                                                  answer="photosynthesis")]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / track / "test-00000-of-00001.parquet")
    load = load_videommmu(tmp_path, check_media=False)
    assert len(load.items) == 6 and load.items[1].problem_type == "free-form"
    assert read_rows(tmp_path / "Perception" / "test-00000-of-00001.parquet")[0]["id"] == "validation_Art_1"


def test_video_r1_frame_folders_and_single_options(tmp_path, clip):
    """eval_mvbench.json: rows with data_type "frame" (a folder of frames) and single-option rows load."""
    from PIL import Image

    frames = tmp_path / "mvbench" / "frames" / "clip1"
    frames.mkdir(parents=True)
    for k in range(6):
        Image.new("RGB", (32, 24), (40 * k, 0, 0)).save(frames / f"{k:05d}.jpg")
    (tmp_path / "mvbench" / "v.mp4").write_bytes(clip.read_bytes())
    base = {"problem": "What?", "problem_type": "multiple choice", "data_source": "mvbench"}
    rows = [{**base, "problem_id": 1, "data_type": "video", "path": "./mvbench/v.mp4",
             "options": ["A. x", "B. y"], "solution": "<answer>A</answer>"},
            {**base, "problem_id": 2, "data_type": "frame", "path": "./mvbench/frames/clip1",
             "options": ["A. x", "B. y", "C. z"], "solution": "<answer>C</answer>"},
            {**base, "problem_id": 3, "data_type": "video", "path": "./mvbench/v.mp4",
             "options": ["A. only"], "solution": "<answer>A</answer>"},
            {**base, "problem_id": 3, "data_type": "video", "path": "./mvbench/v.mp4",
             "options": ["A. x", "B. y"], "solution": "<answer>B</answer>"}]
    (tmp_path / "eval_mvbench.json").write_text(json.dumps(rows))
    load = load_video_r1(tmp_path / "eval_mvbench.json")
    assert [it.id for it in load.items] == ["1", "2", "3", "3@row3"]
    assert load.items[1].extra["frames_dir"] and load.items[1].data_type == "video"
    assert "warning: 1 single-option" in load.summary()

    from video_ktr.data import MediaBudget
    from video_ktr.eval.media import load_item_media
    m = load_item_media(load.items[1], load.items[1].to_record(), MediaBudget(nframes=4), 28)
    assert m.kind == "video" and m.frames.shape[0] == 4 and m.frames.shape[1] % 28 == 0


def test_no_media_mode_reads_every_layout(toy_data, tmp_path):
    """`video-ktr eval --no-media`: the annotation files of every real layout read and validated end to end
    without any media: Holmes (per-film question ids), VideoMMMU's dict-of-rows JSON (repeated ids, pre-lettered
    options, question_type null), a Video-R1 MVBench JSON (frame folders, a single-option row), VideoMME, MMVU."""
    from typer.testing import CliRunner

    from video_ktr.cli.main import app

    holmes = tmp_path / "holmes"
    holmes.mkdir()
    rows = [{"video ID": v, "Question ID": q, "Question Type": "TCI", "Question": "?", "Answer": "A",
             "Options": {k: k.lower() for k in "ABCDEF"}} for v in ("f1", "f2") for q in ("1", "2")]
    (holmes / "test_Video-Holmes.json").write_text(json.dumps(rows))
    vm = tmp_path / "videommmu"
    vm.mkdir()
    for track in ("Perception", "Comprehension", "Adaptation"):
        rows = {"0": videommmu_row("validation_Art_1"), "1": videommmu_row("validation_Math_2", qtype=None,
                                                                             options=[], answer="7")}
        (vm / f"{track.lower()}_video.json").write_text(json.dumps({track: rows}))
    base = {"problem": "?", "problem_type": "multiple choice", "solution": "<answer>A</answer>"}
    r1 = [{**base, "problem_id": 1, "data_type": "frame", "path": "./frames/a", "options": ["A. x", "B. y"]},
          {**base, "problem_id": 2, "data_type": "video", "path": "./v.mp4", "options": ["A. only"]}]
    (tmp_path / "eval_mvbench.json").write_text(json.dumps(r1))
    mme = {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "History",
           "videoID": "yt1", "question_id": "001-1", "task_type": "OCR Problems", "question": "?",
           "options": ["A. 1", "B. 2", "C. 3", "D. 4"], "answer": "C"}
    (tmp_path / "mme").mkdir()
    (tmp_path / "mme" / "videomme.json").write_text(json.dumps([mme]))
    args = ["eval", "--no-media", "-b", "holmes", "-d", str(holmes), "-b", "videommmu", "-d", str(vm),
            "-b", "video_r1", "-d", str(tmp_path / "eval_mvbench.json"), "-b", "videomme", "-d", str(tmp_path / "mme")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "holmes: 4 questions" in res.output and "videommmu: 6 questions" in res.output
    assert "video_r1: 2 questions" in res.output and "1 single-option" in res.output
    assert "3 rows with question_type null" in res.output and "videomme: 1 questions" in res.output
    assert "track: {'Adaptation': 2, 'Comprehension': 2, 'Perception': 2}" in res.output


def test_missing_folder_says_what(tmp_path):
    with pytest.raises(FileNotFoundError, match="no annotation file"):
        load_holmes(tmp_path)
    with pytest.raises(FileNotFoundError, match="perception_video.json"):
        load_videommmu(tmp_path)


@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_every_benchmark_names_known_scorer_and_prompt(name):
    from video_ktr.data import PROMPTS
    from video_ktr.eval import SCORERS

    b = BENCHMARKS.get(name)
    assert b.scorer in SCORERS and b.template in PROMPTS and b.split

import json
from pathlib import Path

import pytest

from video_ktr.data import PROBLEM_TYPES, load_records
from video_ktr.data.schema import RecordError, resolve_media_path

from .conftest import write_json


def test_toy_data_loads(toy_data):
    report = load_records(toy_data / "train.json")
    assert len(report) == 40 and report.num_skipped == 0
    r = report.records[0]
    assert r.media_path == toy_data / r.path[2:] and r.media_path.is_file()
    assert r.answer == r.solution[len("<answer>"):-len("</answer>")]
    assert "task" in r.extra and r.process.startswith("<think>")


BAD_FIELDS = [
    ("problem_id", None, "missing:problem_id"), ("problem", None, "missing:problem"),
    ("data_type", None, "missing:data_type"), ("problem_type", None, "missing:problem_type"),
    ("solution", None, "missing:solution"), ("path", None, "missing:path"),
    ("problem", "  ", "bad:problem"), ("data_type", "audio", "bad:data_type"),
    ("problem_type", "yes/no", "bad:problem_type"), ("options", [], "bad:options"),
    ("options", ["red", "blue"], "bad:options"), ("options", "A. red", "bad:options"),
    ("solution", "A", "bad:solution"), ("path", "", "bad:path"), ("process", 3, "bad:process"),
    ("problem_id", True, "bad:problem_id"),
]


@pytest.mark.parametrize("field,value,reason", BAD_FIELDS)
def test_each_bad_field_is_named(tmp_path, good_row, field, value, reason):
    bad = dict(good_row, problem_id=good_row["problem_id"] if field != "problem_id" else value)
    if value is None:
        bad.pop(field)
    else:
        bad[field] = value
    file = write_json(tmp_path / "d.json", [good_row, bad])
    with pytest.raises(RecordError) as e:
        load_records(file)
    msg = str(e.value)
    assert str(file) in msg and "record 1" in msg and repr(field) in msg, msg
    if field != "problem_id":
        assert "problem_id=7" in msg
    assert e.value.reason == reason
    report = load_records(file, on_error="skip")
    assert len(report) == 1 and report.skipped == {reason: 1} and len(report.errors) == 1


def test_skip_counts_by_reason_and_jsonl(tmp_path, good_row):
    rows = [good_row, dict(good_row, data_type="audio"), dict(good_row, data_type="gif"),
            dict(good_row, solution="no tag")]
    file = tmp_path / "d.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    report = load_records(file, on_error="skip")
    assert len(report) == 1
    assert report.skipped == {"bad:data_type": 2, "bad:solution": 1, "bad_json": 1}
    assert "4 skipped" in report.summary()
    with pytest.raises(ValueError, match="record 1"):
        load_records(file)
    file.write_text(json.dumps(good_row) + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        load_records(file)


def test_non_multiple_choice_needs_no_options(tmp_path, good_row):
    for pt in PROBLEM_TYPES:
        row = dict(good_row, problem_type=pt, options=[] if pt != "multiple choice" else good_row["options"])
        if pt in ("numerical", "regression"):
            row["solution"] = "<answer>3.5</answer>"
        assert load_records(write_json(tmp_path / "d.json", [row])).records[0].problem_type == pt


def test_paths_resolve_under_root(tmp_path, good_row):
    (tmp_path / "sub").mkdir()
    file = write_json(tmp_path / "sub" / "d.json", [good_row])
    assert load_records(file).records[0].media_path == tmp_path / "sub" / "videos" / "x.mp4"
    assert load_records(file, root=tmp_path / "data").records[0].media_path == tmp_path / "data" / "videos" / "x.mp4"
    assert resolve_media_path("/abs/v.mp4", tmp_path) == Path("/abs/v.mp4")
    assert resolve_media_path("videos/a b.mp4", tmp_path) == tmp_path / "videos" / "a b.mp4"


def test_bad_arguments(tmp_path, good_row):
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="on_error"):
        load_records(write_json(tmp_path / "d.json", [good_row]), on_error="ignore")
    (tmp_path / "obj.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="JSON list"):
        load_records(tmp_path / "obj.json")

"""A corrupt clip in the middle of the data: on_error=skip trains to the end and counts it; raise names the row."""
import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from video_ktr.cli.main import app
from video_ktr.config import config_from_dict
from video_ktr.data import MediaError
from video_ktr.trainer import RLTrainer


@pytest.fixture
def corrupt_data(toy_data, tmp_path):
    """6 toy records (own copies of their media) whose 4th clip (row 3) is garbage bytes."""
    rows = [r for r in json.loads((toy_data / "train.json").read_text()) if r["data_type"] == "video"][:6]
    out = tmp_path / "data"
    for r in rows:
        dest = out / r["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(toy_data / r["path"], dest)
    (out / rows[3]["path"]).write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    (out / "train.json").write_text(json.dumps(rows))
    return out, rows[3]


def test_skip_trains_to_the_end_and_reports_one_skip(tiny_cfg, corrupt_data, tmp_path):
    data, bad = corrupt_data
    cfg = tiny_cfg(data={"train_path": str(data / "train.json"), "on_error": "skip", "shuffle": False},
                   trainer={"max_steps": 3})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["data/skipped_media"] for r in rows] == [0, 1, 0]
    assert "1 prompts skipped for bad media" in res.output and f"problem_id={bad['problem_id']}" in res.output
    logged = {json.loads(ln)["problem_id"] for ln in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()}
    assert str(bad["problem_id"]) not in {str(p) for p in logged}


def test_raise_names_file_row_problem_id_and_path(tiny_cfg, corrupt_data):
    data, bad = corrupt_data
    cfg = config_from_dict(tiny_cfg(data={"train_path": str(data / "train.json"), "shuffle": False,
                                          "cache_media": False}, trainer={"max_steps": 3}))
    trainer = RLTrainer(cfg).setup()
    with pytest.raises(MediaError) as e:
        trainer.train()
    msg = str(e.value)
    assert f"{data / 'train.json'}: record 3 (problem_id={bad['problem_id']})" in msg and bad["path"][2:] in msg

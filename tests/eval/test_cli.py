"""``video-ktr eval`` (two benches, a frame sweep) and ``video-ktr infer`` (video, image, key tokens) end to end."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from video_ktr.cli.main import app


def test_eval_cli_two_benches_and_sweep(nano_model, toy_data, tmp_path):
    res = CliRunner().invoke(app, [
        "eval", "--bench", "holmes", "--data", str(toy_data / "holmes"), "--bench", "video_r1",
        "--data", str(toy_data / "eval.json"), "--model", str(nano_model), "--out", str(tmp_path),
        "--frames", "4,8", "--limit", "3", "--max-new-tokens", "4", "--batch-size", "3"])
    assert res.exit_code == 0, res.output
    for bench in ("holmes", "video_r1"):
        for f in (4, 8):
            s = json.loads((tmp_path / bench / f"frames{f}" / "summary.json").read_text())
            assert s["num_done"] == 3 and s["budget"]["nframes"] == f
    assert (tmp_path / "summary.md").read_text().count("### ") == 4
    assert "ETA" in res.output


def test_eval_cli_rejects_unpaired_data(nano_model, toy_data):
    res = CliRunner().invoke(app, ["eval", "--bench", "holmes", "--bench", "mmvu", "--data", str(toy_data),
                                   "--model", str(nano_model)])
    assert res.exit_code != 0 and "one --data per --bench" in res.output


def test_infer_video_with_key_tokens(nano_model, toy_data):
    video = next((toy_data / "videos").glob("*.mp4"))
    res = CliRunner().invoke(app, [
        "infer", "--model", str(nano_model), "--video", str(video), "--question", "Which colour appears first?",
        "--type", "multiple-choice", "-o", "A. red", "-o", "B. blue", "--frames", "8", "--max-new-tokens", "6",
        "--show-key-tokens"])
    assert res.exit_code == 0, res.output
    assert "answer" in res.output and "tokens key (entropy" in res.output and "temporal" in res.output


def test_infer_image(nano_model, toy_data):
    image = next((toy_data / "images").glob("*.png"))
    res = CliRunner().invoke(app, ["infer", "--model", str(nano_model), "--image", str(image), "--question",
                                   "How many squares?", "--type", "numerical", "--max-new-tokens", "4",
                                   "--greedy", "--show-key-tokens"])
    assert res.exit_code == 0, res.output
    assert "image: 1 frame" in res.output and "temporal" not in res.output.split("key tokens")[1].split("\n")[0]


def test_eval_cli_corrupt_video_is_one_counted_skip_and_rerun_is_noop(nano_model, toy_data, tmp_path,
                                                                       monkeypatch):
    import shutil

    data = tmp_path / "holmes"
    shutil.copytree(toy_data / "holmes", data)
    rows = json.loads((data / "test_Video-Holmes.json").read_text())
    bad = data / "videos" / f"{rows[0]['video ID']}.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)          # an mp4 header, then nothing usable
    args = ["eval", "--bench", "holmes", "--data", str(data), "--model", str(nano_model), "--out",
            str(tmp_path / "out"), "--frames", "4", "--max-new-tokens", "4", "--batch-size", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "out" / "holmes" / "frames4" / "summary.json").read_text())
    assert s["skipped"] == {"corrupt": 1} and s["skipped_media"] == [str(bad)]
    assert s["overall"]["total"] == len(rows) - 1 and s["num_done"] == len(rows)
    assert "1 question(s) skipped" in res.output
    md = (tmp_path / "out" / "holmes" / "frames4" / "summary.md").read_text()
    assert "skipped (media could not be decoded): 1" in md
    lines = (tmp_path / "out" / "holmes" / "frames4" / "results.jsonl").read_text()

    # the rerun: nothing left to do, so the model is never even loaded and nothing is appended
    import video_ktr.eval.runner as runner

    def no_load(*a, **k):
        raise AssertionError("the rerun loaded the model")
    monkeypatch.setattr(runner, "make_backend", no_load)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "holmes" / "frames4" / "results.jsonl").read_text() == lines
    again = json.loads((tmp_path / "out" / "holmes" / "frames4" / "summary.json").read_text())
    assert again["skipped"] == {"corrupt": 1} and again["overall"] == s["overall"]


def test_eval_cli_no_media(toy_data):
    res = CliRunner().invoke(app, ["eval", "--bench", "holmes", "--data", str(toy_data / "holmes"), "--bench",
                                   "video_r1", "--data", str(toy_data / "eval.json"), "--no-media"])
    assert res.exit_code == 0, res.output
    assert "holmes: 5 questions" in res.output and "video_r1: 10 questions" in res.output

"""End to end on the nano model and the synthetic splits; kill-and-resume; the JSONL store's crash handling."""
from __future__ import annotations

import json

import pytest

from video_ktr.eval import Decoding, HFBackend, evaluate, read_results
from video_ktr.eval.backends import Generation

DEC = Decoding(max_new_tokens=6)


@pytest.fixture(scope="module")
def nano_backend(nano_model):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(nano_model)
    return HFBackend(model, AutoProcessor.from_pretrained(nano_model), DEC)


class Crashing:
    """Wraps a backend; raises (a simulated kill) once ``after`` batches have been generated."""

    def __init__(self, inner, after: int):
        self.inner, self.after, self.calls = inner, after, 0
        self.processor, self.patch_multiple = inner.processor, inner.patch_multiple

    def generate(self, records, media, template, *, seed=0):
        if self.calls == self.after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        return self.inner.generate(records, media, template, seed=seed)


class Canned:
    """A backend answering every question with the gold letter in <answer> tags (checks the scoring path)."""

    def __init__(self, inner):
        self.processor, self.patch_multiple = inner.processor, inner.patch_multiple

    def generate(self, records, media, template, *, seed=0):
        return [Generation(f"<think>hmm</think><answer>{r.answer}</answer>", 5) for r in records]


def test_holmes_end_to_end(nano_backend, toy_data, tmp_path):
    s = evaluate(nano_backend, "holmes", toy_data / "holmes", tmp_path, frames=8, decoding=DEC, batch_size=4)
    holmes = json.loads((toy_data / "holmes" / "test_Video-Holmes.json").read_text())
    assert s["num_done"] == s["overall"]["total"] == len(holmes)
    assert s["scorer"] == "holmes" and s["template"] == "video_holmes" and s["budget"]["nframes"] == 8
    types = {q["Question Type"] for q in holmes}
    assert set(s["groups"]["type"]) == types
    assert sum(c["total"] for c in s["groups"]["type"].values()) == len(holmes)
    md = (tmp_path / "summary.md").read_text()
    assert "| type |" in md and "scorer `holmes`" in md and "8 frames" in md
    answers = json.loads((tmp_path / "holmes_answers.json").read_text())
    assert sorted(a["Question ID"] for a in answers) == sorted(q["Question ID"] for q in holmes)
    rows, _ = read_results(tmp_path / "results.jsonl")
    assert all(0 < r["num_tokens"] <= DEC.max_new_tokens for r in rows)
    assert not any("<|video_pad|>" in r["output"] for r in rows)


def test_video_r1_end_to_end_scores_right_answers(nano_backend, toy_data, tmp_path):
    s = evaluate(Canned(nano_backend), "video_r1", toy_data / "eval.json", tmp_path, frames=8, batch_size=5,
                 model_name="canned")
    assert s["overall"]["total"] == 10 and s["overall"]["accuracy"] == 100.0
    assert set(s["groups"]) == {"problem_type", "data_source"}
    assert sum(c["total"] for c in s["groups"]["data_source"].values()) == 10


def test_kill_and_resume(nano_backend, toy_data, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        evaluate(Crashing(nano_backend, after=2), "video_r1", toy_data / "eval.json", tmp_path, frames=8,
                 batch_size=3, model_name="nano")
    rows, _ = read_results(tmp_path / "results.jsonl")
    assert len(rows) == 6                                       # two batches of 3 made it to disk
    with open(tmp_path / "results.jsonl", "a") as f:            # a kill in the middle of writing a line
        f.write('{"id": "9", "prompt_hash": "ab", "outp')
    calls = Crashing(nano_backend, after=99)
    s = evaluate(calls, "video_r1", toy_data / "eval.json", tmp_path, frames=8, batch_size=3, model_name="nano")
    assert calls.calls == 2                                     # only the 4 unfinished questions were generated
    assert s["dropped_partial_line"] and s["missing"] == 0
    ids = [json.loads(line)["id"] for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    want = [str(r["problem_id"]) for r in json.loads((toy_data / "eval.json").read_text())]
    assert sorted(ids) == sorted(want) and len(ids) == len(set(ids))
    again = evaluate(Crashing(nano_backend, after=0), "video_r1", toy_data / "eval.json", tmp_path, frames=8,
                     model_name="nano")                          # all done: nothing generated
    assert again["overall"] == s["overall"]


def test_rerun_with_other_settings_refuses(nano_backend, toy_data, tmp_path):
    evaluate(Canned(nano_backend), "holmes", toy_data / "holmes", tmp_path, frames=8, limit=2, model_name="m")
    with pytest.raises(ValueError, match="different run.*budget"):
        evaluate(Canned(nano_backend), "holmes", toy_data / "holmes", tmp_path, frames=4, limit=2, model_name="m")
    s = evaluate(Canned(nano_backend), "holmes", toy_data / "holmes", tmp_path, frames=4, limit=2, model_name="m",
                 overwrite=True)
    assert s["num_done"] == 2


def test_read_results_drops_only_a_torn_tail(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"id": "1"}\n{"id": "2"}\n{"id": "3", "out')
    rows, dropped = read_results(p)
    assert [r["id"] for r in rows] == ["1", "2"] and dropped > 0
    assert p.read_text() == '{"id": "1"}\n{"id": "2"}\n'        # truncated: the next append starts clean
    p.write_text('{"id": "1"}\n{"id": \n{"id": "3"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_results(p)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_other_families_run(tiny_models, toy_data, tmp_path, family):
    s = evaluate(str(tiny_models[family]), "video_r1", toy_data / "eval.json", tmp_path, frames=4, limit=3,
                 decoding=Decoding(max_new_tokens=3, greedy=True))
    assert s["num_done"] == 3 and s["decoding"]["greedy"]


def test_evaluate_checkpoint_uses_the_training_budget(nano_model, toy_data, tmp_path):
    """train/demo before/after evals: the training run's frame budget (here 2 fps, 4–6 frames; and 6 fixed
    frames), written into the summaries; every generated answer saw that many frames."""
    from video_ktr.config import load_config
    from video_ktr.trainer.batches import media_budget
    from video_ktr.trainer.report import evaluate_checkpoint

    for overrides in ({"data.max_frames": 6, "data.min_frames": 4}, {"data.nframes": 6}):
        cfg = load_config(None, [f"{k}={v}" for k, v in {"data.eval_path": toy_data / "eval.json",
                                                          "eval.max_samples": 3, "eval.max_new_tokens": 4,
                                                          **overrides}.items()])
        out = tmp_path / str(len(overrides))
        evaluate_checkpoint(cfg, nano_model, out, holmes_dir=toy_data / "holmes")
        for bench in ("video_r1", "holmes"):
            s = json.loads((out / bench / "summary.json").read_text())
            assert s["budget"] == media_budget(cfg.data).as_dict()
            rows = [json.loads(x) for x in (out / bench / "results.jsonl").read_text().splitlines()]
            assert rows and all(r["num_frames"] in (4, 6) for r in rows if r.get("num_frames", 1) > 1)
        md = (out / "video_r1" / "summary.md").read_text()
        assert ("6 frames" if "data.nframes" in overrides else "2.0 fps, 4–6 frames") in md


def test_mvbench_frame_folder_and_single_option_rows_run(nano_backend, toy_data, tmp_path):
    """A Video-R1 eval JSON with a frame-folder row, a single-option row and a regression row runs end to end:
    the frame folder is sampled to the budget, regression is reported as MRA apart from accuracy."""
    import shutil

    from PIL import Image

    frames = tmp_path / "frames" / "c1"
    frames.mkdir(parents=True)
    for k in range(10):
        Image.new("RGB", (64, 64), (25 * k, 0, 200)).save(frames / f"{k:05d}.png")
    video = next((toy_data / "videos").glob("*.mp4"))
    shutil.copy(video, tmp_path / "v.mp4")
    base = {"problem": "Which?", "problem_type": "multiple choice", "data_source": "mvbench"}
    rows = [{**base, "problem_id": 1, "data_type": "frame", "path": "./frames/c1", "options": ["A. x", "B. y"],
             "solution": "<answer>A</answer>"},
            {**base, "problem_id": 2, "data_type": "video", "path": "./v.mp4", "options": ["A. only"],
             "solution": "<answer>A</answer>"},
            {"problem": "How far?", "problem_type": "regression", "data_source": "vsibench", "problem_id": 3,
             "data_type": "video", "path": "./v.mp4", "options": [], "solution": "<answer>4.2</answer>"}]
    (tmp_path / "eval_mvbench.json").write_text(json.dumps(rows))
    s = evaluate(nano_backend, "video_r1", tmp_path / "eval_mvbench.json", tmp_path / "out", frames=4,
                 decoding=DEC, batch_size=3)
    assert s["num_done"] == 3 and s["overall"]["total"] == 2 and s["mra"]["total"] == 1 and not s["skipped"]
    assert "1 single-option" in s["load"]
    got, _ = read_results(tmp_path / "out" / "results.jsonl")
    assert {r["id"]: r["num_frames"] for r in got}["1"] == 4
    assert "**MRA** (regression)" in (tmp_path / "out" / "summary.md").read_text()

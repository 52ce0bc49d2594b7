"""Every `video-ktr analyze` command on a run directory written by a real (tiny) training run and eval."""
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.analysis.browser import dump_dom, find_chromium
from video_ktr.cli.main import app

pytestmark = pytest.mark.slow


def _cli(*args):
    subprocess.run([sys.executable, "-m", "video_ktr.cli.main", *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="session")
def real_run(nano_model, toy_data, tmp_path_factory):
    """2 KTR steps of the nano model (2 prompts × 2 samples, samples logged every step) + a 2-question eval."""
    run = tmp_path_factory.mktemp("real") / "ktr"
    _cli("train", "--config", "configs/demo_cpu.yaml", "--max-steps", 2, "--out", run, f"model.path={nano_model}",
         f"data.train_path={toy_data / 'train.json'}", f"data.eval_path={toy_data / 'eval.json'}",
         "rollout.batch_size=2", "rollout.group_size=2", "rollout.max_new_tokens=12", "trainer.log_samples_every=1",
         "trainer.save_every=0")
    _cli("eval", "--bench", "holmes", "--data", toy_data / "holmes", "--model", nano_model, "--out", run / "eval",
         "--frames", 4, "--limit", 2, "--max-new-tokens", 8, "--greedy")
    return run


def invoke(*args):
    r = CliRunner().invoke(app, ["analyze", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r.output


def test_loss(real_run, tmp_path):
    invoke("loss", real_run, real_run, "--out", tmp_path)
    rows = json.loads((tmp_path / "loss.json").read_text())["runs"]
    (row, *_), = [list(rows.values())]
    metrics = [json.loads(line) for line in (real_run / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss/policy"] for m in metrics]
    mean = sum(losses) / len(losses)
    assert row["loss"]["n"] == 2 and row["loss"]["var"] == pytest.approx(sum((x - mean) ** 2 for x in losses) / 2)
    assert (tmp_path / "loss.png").stat().st_size > 5000


def test_tokens(real_run, tmp_path):
    invoke("tokens", real_run, "--out", tmp_path)
    stats = json.loads((tmp_path / "tokens.json").read_text())["signals"]
    rows = [json.loads(line) for line in (real_run / "samples.jsonl").read_text().splitlines()]
    assert stats["key"]["num_tokens"] == sum(len(r["tokens"]) for r in rows)
    assert stats["key"]["num_kept_tokens"] == sum(sum(r["masks"]["key"]) for r in rows)
    assert stats["key"]["pos"] and (tmp_path / "wordclouds.png").exists() and (tmp_path / "pos.png").exists()


def test_view(real_run, tmp_path):
    out = tmp_path / "v.html"
    invoke("view", real_run, "--out", out)
    rows = [json.loads(line) for line in (real_run / "samples.jsonl").read_text().splitlines()]
    html = out.read_text()
    assert html.count('<span class="t') == sum(len(r["tokens"]) for r in rows)
    if find_chromium():
        dom = dump_dom(out)
        assert f"{len(rows)} of {len(rows)} completions" in dom


def test_compare(real_run, tmp_path):
    invoke("compare", real_run, real_run, "--out", tmp_path)
    table = json.loads((tmp_path / "compare.json").read_text())
    assert table["columns"] == ["holmes/frames4"]
    acc = json.loads((real_run / "eval/holmes/frames4/summary.json").read_text())["overall"]["accuracy"]
    assert table["rows"][0]["values"]["holmes/frames4"] == acc and table["rows"][1]["deltas"]["holmes/frames4"] == 0


def test_gradients(real_run, toy_data, tmp_path):
    ckpt = real_run / "checkpoints" / "step-2" / "model"
    invoke("gradients", "--model", ckpt, "--data", toy_data / "train.json", "--out", tmp_path, "--num-prompts", 2,
           "--group-size", 2, "--max-new-tokens", 10, "--advantage", "unit")
    r = json.loads((tmp_path / "gradients.json").read_text())
    assert all(s["sum_rel_error"] < 1e-5 for s in r["signals"].values()) and r["full_norm"] > 0
    assert (tmp_path / "gradients.png").stat().st_size > 5000

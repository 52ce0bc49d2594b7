"""The main job end to end through the real CLI: toy model + data → SFT → eval → KTR (2 seeds) → eval → report."""
import json

import pytest
from typer.testing import CliRunner

from video_ktr.cli.main import app


def test_demo_end_to_end_tiny(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--sft-steps", "3", "--rl-steps", "5",
                                   "--rl-seeds", "2", "--n-train", "16", "--n-eval", "8"])
    assert res.exit_code == 0, res.output
    for f in ("report.md", "curves.png", "demo_summary.json", "sft/metrics.jsonl"):
        assert (out / f).is_file(), f
    sft_records = json.loads((out / "toy" / "data" / "train_sft.json").read_text())   # the warm-up's split
    assert sft_records and {r["task"] for r in sft_records} == {"static_colour"}
    for s in (0, 1):                                   # one full run dir per RL seed, all from the same SFT start
        run = out / "rl" / f"seed{s}"
        for f in ("metrics.jsonl", "samples.jsonl", "config.yaml"):
            assert (run / f).is_file(), (s, f)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and "ktr/frac_key" in rows[0]
        assert f"seed: {s}" in (run / "config.yaml").read_text()
        assert "sft/model" in (run / "config.yaml").read_text()
    summary = json.loads((out / "demo_summary.json").read_text())
    assert set(summary["evals"]) == {"base model", "after SFT (before RL)", "after ktr, seed 0", "after ktr, seed 1"}
    for ev in summary["evals"].values():
        assert ev["eval/n"] == 8 and 0 <= ev["eval/accuracy"] <= 1 and 0 <= ev["eval/format"] <= 1
    start = summary["evals"]["after SFT (before RL)"]["eval/accuracy"]
    gains = [summary["evals"][f"after ktr, seed {s}"]["eval/accuracy"] - start for s in (0, 1)]
    assert summary["rl_gain"]["per_seed"] == pytest.approx(gains)
    assert summary["rl_gain"]["mean"] == pytest.approx(sum(gains) / 2)
    assert summary["rl_gain"]["std"] == pytest.approx(abs(gains[0] - gains[1]) / 2 ** 0.5)
    for name in ("base", "before_rl", "after_rl_seed0", "after_rl_seed1"):   # the harness's outputs, both formats
        assert (out / "eval" / name / "video_r1" / "summary.json").is_file()
        assert (out / "eval" / name / "holmes" / "summary.json").is_file()
    report = (out / "report.md").read_text()
    assert "Held-out evaluation" in report and "| after ktr, seed 1 |" in report and "**RL gain**" in report


def test_demo_refuses_zero_rl_seeds(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--rl-seeds", "0"])
    assert res.exit_code != 0 and "--rl-seeds" in res.output


def test_sft_split_selects_tasks_and_refuses_unknown(tmp_path):
    import typer

    from video_ktr.cli.demo import DEMO_DATA, sft_split
    from video_ktr.toy import build_toy_data

    data = build_toy_data(tmp_path / "d", n=16, n_eval=8, seed=0, **DEMO_DATA)
    every = json.loads((data / "train.json").read_text())
    assert json.loads(sft_split(data, "all").read_text()) == every
    first = json.loads(sft_split(data, "first_colour").read_text())
    assert first == [r for r in every if r["task"] == "first_colour"] and first
    with pytest.raises(typer.BadParameter, match="motion"):
        sft_split(data, "motion")

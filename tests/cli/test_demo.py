"""The main job end to end through the real CLI: toy model + data → SFT → eval → KTR → eval → report."""
import json

from typer.testing import CliRunner

from video_ktr.cli.main import app


def test_demo_end_to_end_tiny(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--sft-steps", "3", "--rl-steps", "5",
                                   "--n-train", "16", "--n-eval", "8"])
    assert res.exit_code == 0, res.output
    for f in ("report.md", "curves.png", "metrics.jsonl", "samples.jsonl", "config.yaml", "demo_summary.json"):
        assert (out / f).is_file(), f
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and "ktr/frac_key" in rows[0]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert set(summary["evals"]) == {"base model", "after SFT (before RL)", "after ktr"}
    for ev in summary["evals"].values():
        assert ev["eval/n"] == 8 and 0 <= ev["eval/accuracy"] <= 1 and 0 <= ev["eval/format"] <= 1
    for name in ("base", "before_rl", "after_rl"):   # the eval harness's own outputs, both benchmark formats
        assert (out / "eval" / name / "video_r1" / "summary.json").is_file()
        assert (out / "eval" / name / "holmes" / "summary.json").is_file()
    report = (out / "report.md").read_text()
    assert "Held-out evaluation" in report and "| after ktr |" in report

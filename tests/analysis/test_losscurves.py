import pytest

from video_ktr.analysis.losscurves import find_kl_key, loss_table, plot_curves, summarize
from video_ktr.analysis.rundir import load_metrics


def test_summarize_by_hand():
    s = summarize([1, 2, 3, 4])          # mean 2.5, deviations ±1.5 ±0.5 -> var (2.25+0.25)*2/4 = 1.25
    assert (s["mean"], s["var"], s["std"], s["first"], s["last"]) == (2.5, 1.25, pytest.approx(1.25 ** 0.5), 1, 4)
    assert summarize([])["var"] is None


def test_loss_table_across_runs(ktr_run, grpo_run, tmp_path):
    runs = {"ktr": load_metrics(ktr_run), "grpo": load_metrics(grpo_run)}
    t = loss_table(runs)
    assert t["ktr"]["loss"]["var"] == 1.25 and t["grpo"]["loss"]["var"] == 1.0
    assert t["ktr"]["kl"]["mean"] == pytest.approx(0.25) and t["ktr"]["kl_key"] == "loss/kl"
    assert (t["grpo"]["reward"]["first"], t["grpo"]["reward"]["last"]) == (0.5, 1.0)
    assert loss_table(runs, skip_steps=3)["ktr"]["loss"]["var"] == 0.25      # steps 3, 4: losses 3, 4
    assert plot_curves(runs, tmp_path / "c.png").stat().st_size > 5000


def test_kl_key_fallback_and_non_finite_values_are_skipped():
    m = [{"step": 1, "loss/policy": 1.0, "policy/kl_ref": 0.3}, {"step": 2, "loss/policy": None}]
    assert find_kl_key(m) == "policy/kl_ref"
    assert loss_table({"r": m})["r"]["loss"]["n"] == 1

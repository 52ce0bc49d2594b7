import pytest

from video_ktr.analysis.compare import compare_table, headline, to_markdown
from video_ktr.analysis.rundir import load_eval_summaries


def test_headline_metric():
    assert headline({"n": 3, "accuracy": 0.5}) == 0.5
    assert headline({"overall": {"accuracy": 0.25}}) == 0.25
    assert headline({"per_type": {"SR": 0.1}}, "per_type.SR") == 0.1


def test_same_data_table_with_deltas(ktr_run, grpo_run):
    t = compare_table({"grpo": load_eval_summaries(grpo_run), "ktr": load_eval_summaries(ktr_run)})
    grpo, ktr = t["rows"]
    assert t["columns"] == ["holmes", "mmvu"]
    assert grpo["avg"] == pytest.approx((0.388 + 0.648) / 2)                   # 0.518
    assert ktr["deltas"]["holmes"] == pytest.approx(0.028) and ktr["deltas"]["mmvu"] == pytest.approx(0.011)
    assert ktr["avg_delta"] == pytest.approx(0.0195)
    md = to_markdown(t)
    assert "| grpo | 38.8 | 64.8 | 51.8 |" in md
    assert "| ktr | 41.6 (+2.8) | 65.9 (+1.1) | 53.8 (+1.9) |" in md   # 53.75 and 1.95 round to 53.8 / +1.9 or +2.0


def test_missing_eval_is_a_dash(ktr_run, grpo_run):
    t = compare_table({"grpo": {"holmes": {"accuracy": 0.4}}, "ktr": load_eval_summaries(ktr_run)})
    assert t["rows"][0]["values"]["mmvu"] is None and t["rows"][1]["deltas"]["mmvu"] is None
    assert t["rows"][0]["avg"] is None
    assert "–" in to_markdown(t)


def test_headline_from_namespaced_keys():
    assert headline({"eval/reward_mean": 1.2, "eval/accuracy": 0.25, "groups": {"x": {"accuracy": 0.9}}}) == 0.25

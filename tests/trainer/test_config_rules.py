"""Every config value is checked when the tree is built (config_rules.py): names, ranges, cross-field rules."""
import warnings

import pytest
import yaml
from typer.testing import CliRunner

from video_ktr.config import Config, load_config
from video_ktr.config_rules import CROSS, RULES, WARNINGS, ConfigWarning, lookup


def test_every_rule_names_an_existing_field():
    cfg = Config()
    for key in RULES:
        lookup(cfg, key)  # AttributeError on a stale key


@pytest.mark.parametrize("override, key", [
    ("optim.max_grad_norm=-1", "optim.max_grad_norm"),
    ("optim.max_grad_norm=0", "optim.max_grad_norm"),
    ("loss.epsilon=-0.5", "loss.epsilon"),
    ("rollout.batch_size=-2", "rollout.batch_size"),
    ("optim.warmup_ratio=2", "optim.warmup_ratio"),
    ("optim.lr=-1e-5", "optim.lr"),
    ("optim.lr=.nan", "optim.lr"),
    ("loss.aggregation=token_meen", "loss.aggregation"),
    ("ktr.measure=kll", "ktr.measure"),
    ("ktr.weighting=binry", "ktr.weighting"),
    ("ktr.temporal_mode=shufle", "ktr.temporal_mode"),
    ("ktr.visual_mode=dropp", "ktr.visual_mode"),
    ("ktr.scope=globl", "ktr.scope"),
    ("ktr.combine=onion", "ktr.combine"),
    ("data.template=reasonin", "data.template"),
    ("rollout.engine=vlm", "rollout.engine"),
    ("optim.lr_scheduler=cosin", "optim.lr_scheduler"),
    ("model.dtype=float33", "model.dtype"),
    ("trainer.mixed_precision=bf61", "trainer.mixed_precision"),
    ("trainer.report_to=[tensorbord]", "trainer.report_to"),
    ("trainer.max_steps=0", "trainer.max_steps"),
    ("ktr.signals=[entropy,entropy]", "ktr.signals"),
])
def test_bad_values_are_refused_naming_key_value_and_allowed(override, key):
    with pytest.raises(ValueError) as e:
        load_config(None, [override])
    msg = str(e.value)
    assert msg.startswith(key + "="), msg
    assert "allowed" in msg or "must" in msg


def test_registry_names_are_listed_in_the_message():
    with pytest.raises(ValueError, match=r"model.dtype='float33' is not a known name; allowed: \['bfloat16'"):
        load_config(None, ["model.dtype=float33"])
    with pytest.raises(ValueError, match="'token_mean'"):
        load_config(None, ["loss.aggregation=tokenmean"])


def test_string_lr_names_the_key():
    with pytest.raises(ValueError, match="optim.lr='fast' must be a number"):
        load_config(None, {"optim": {"lr": "fast"}})
    with pytest.raises(ValueError, match="rollout.batch_size=True"):
        load_config(None, {"rollout": {"batch_size": True}})
    assert load_config(None, {"optim": {"lr": "1e-5"}}).optim.lr == 1e-5


def test_cross_field_rules():
    with pytest.raises(ValueError, match="temperature=0"):
        load_config(None, ["rollout.temperature=0", "rollout.group_size=4"])
    with pytest.raises(ValueError, match="epsilon_high"):
        load_config(None, ["loss.epsilon=0.3", "loss.epsilon_high=0.2"])
    assert CROSS and WARNINGS


def test_suspicious_but_legal_values_warn():
    with pytest.warns(ConfigWarning, match="optim.lr"):
        load_config(None, ["optim.lr=0.1"])
    with pytest.warns(ConfigWarning, match="not clipped"):
        cfg = load_config(None, ["optim.max_grad_norm=null"])
    assert cfg.optim.max_grad_norm is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        load_config(None, [])  # the defaults are not suspicious


def test_shipped_configs_pass_without_errors():
    from pathlib import Path

    for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"):
        load_config(p)


def test_dry_run_prints_the_resolved_config_and_loads_nothing(tmp_path):
    from video_ktr.cli.main import app

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"algorithm": "dapo", "model": {"path": str(tmp_path / "none")},
                                                     "trainer": {"output_dir": str(tmp_path / "run")}}))
    res = CliRunner().invoke(app, ["train", "-c", str(tmp_path / "c.yaml"), "--dry-run", "loss.beta=0.01"])
    assert res.exit_code == 0, res.output
    printed = yaml.safe_load(res.output)
    assert printed["algorithm"] == "dapo" and printed["loss"]["beta"] == 0.01 and printed["loss"]["epsilon_high"] == 0.28
    assert not (tmp_path / "run").exists()  # no run directory, no model load (the model path does not exist)
    res = CliRunner().invoke(app, ["train", "-c", str(tmp_path / "c.yaml"), "--dry-run", "optim.max_grad_norm=-1"])
    assert res.exit_code != 0 and "optim.max_grad_norm=-1" in res.output


def test_negative_max_grad_norm_is_refused_before_the_model_loads(tmp_path):
    from video_ktr.cli.main import app

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"model": {"path": str(tmp_path / "no-model")},
                                                     "trainer": {"output_dir": str(tmp_path / "run")}}))
    res = CliRunner().invoke(app, ["train", "-c", str(tmp_path / "c.yaml"), "optim.max_grad_norm=-1"])
    assert res.exit_code == 2 and "optim.max_grad_norm=-1" in res.output and "no-model" not in res.output
    assert not (tmp_path / "run").exists()


def test_temporal_only_signals_on_image_only_data_is_refused():
    from types import SimpleNamespace

    from video_ktr.trainer.rl import check_signals_for_data

    images, mixed = [SimpleNamespace(is_video=False)] * 3, [SimpleNamespace(is_video=v) for v in (False, True)]
    with pytest.raises(ValueError, match="image-only"):
        check_signals_for_data(load_config(None, ["ktr.signals=[temporal]"]), images)
    with pytest.warns(UserWarning, match="holds no video"):
        check_signals_for_data(load_config(None, []), images)
    check_signals_for_data(load_config(None, ["ktr.signals=[temporal]"]), mixed)
    check_signals_for_data(load_config(None, ["algorithm=grpo", "ktr.signals=[temporal]"]), images)

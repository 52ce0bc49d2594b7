import pytest

from video_ktr.config import ALGORITHMS, config_to_dict, dump_config, load_config, parse_overrides


def test_overrides_both_syntaxes_and_presets():
    cfg = load_config(None, ["algorithm=dapo", "--ktr.visual_ratio", "0.3", "reward.names=accuracy,format"])
    assert cfg.ktr.visual_ratio == 0.3 and cfg.reward.names == ("accuracy", "format")
    assert cfg.loss.beta == 0.0 and cfg.loss.epsilon_high == 0.28 and cfg.loss.aggregation == "token_mean"
    # an explicit value beats the preset
    assert load_config(None, ["algorithm=dapo", "loss.beta=0.01"]).loss.beta == 0.01
    assert load_config(None, []).ktr.enabled and not load_config(None, ["algorithm=grpo"]).ktr.enabled


@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_every_preset_builds(name):
    assert load_config(None, [f"algorithm={name}"]).algorithm == name


def test_unknown_keys_and_bad_values_are_errors(tmp_path):
    with pytest.raises(KeyError, match="ktr.foo"):
        load_config(None, ["ktr.foo=1"])
    with pytest.raises(KeyError, match="unknown algorithm"):
        load_config(None, ["algorithm=ppo"])
    with pytest.raises(ValueError, match="visual_ratio"):
        load_config(None, ["ktr.visual_ratio=1.5"])
    with pytest.raises(ValueError, match="no value"):
        parse_overrides(["--ktr.visual_ratio"])


def test_dump_roundtrip(tmp_path):
    cfg = load_config(None, ["algorithm=t_grpo", "rollout.group_size=4"])
    dump_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert config_to_dict(again) == config_to_dict(cfg)


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    for p in root.glob("*.yaml"):
        load_config(p)
    ref = load_config(root / "video_ktr_qwen2_5_vl_7b.yaml")
    assert ref.algorithm == "ktr" and ref.optim.lr == 2e-6 and ref.loss.beta == 0.04 and ref.rollout.group_size == 8
    assert load_config(root / "grpo_qwen2_5_vl_7b.yaml").optim.lr == 1e-6
    for name in ("video_ktr", "grpo", "t_grpo"):  # the reference runs: length bonus on, reference time and pixel floor
        cfg = load_config(root / f"{name}_qwen2_5_vl_7b.yaml")
        assert cfg.reward.names == ("accuracy", "format", "length"), name
        assert cfg.reward.kwargs["length"] == {"bonus": 0.2, "min_length": 320, "max_length": 512}
        assert (cfg.data.video_time, cfg.data.video_min_pixels, cfg.data.video_max_pixels) == \
            ("reference", 128 * 28 * 28, 128 * 28 * 28)
        assert cfg.ktr.on_constant == "all" and cfg.rollout.top_p == 0.95 and cfg.rollout.temperature == 1.0
        assert "Departures from the reference" in (root / f"{name}_qwen2_5_vl_7b.yaml").read_text()


def test_reward_names_and_hyperparameters_checked_when_built():
    import pytest

    from video_ktr.config import load_config

    with pytest.raises(KeyError, match="unknown reward 'formt'"):
        load_config(None, ["reward.names=[accuracy,formt]"])
    cfg = load_config(None, {"reward": {"names": ["accuracy", "format", "length"],
                                        "kwargs": {"length": {"min_length": 100}}}})
    assert cfg.reward.kwargs == {"length": {"min_length": 100}}
    with pytest.raises(ValueError):
        load_config(None, {"reward": {"names": ["accuracy", "format", "length"],
                                      "kwargs": {"length": {"no_such_hyperparameter": 1}}}})


def test_new_fields_are_validated():
    import pytest

    for override, key in (("ktr.on_constant=some", "ktr.on_constant"), ("ktr.constant_tol=-1", "ktr.constant_tol"),
                          ("data.video_time=seconds", "data.video_time"),
                          ("data.video_min_pixels=0", "data.video_min_pixels")):
        with pytest.raises(ValueError) as e:
            load_config(None, [override])
        assert str(e.value).startswith(key + "="), str(e.value)
    assert load_config(None, ["ktr.on_constant=none"]).ktr.on_constant == "none"

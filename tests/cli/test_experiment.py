"""`video-ktr experiment` end to end on the nano model: SFT once, 2 paired seeds × 2 methods, the paired table."""
import json
import math

import yaml
from typer.testing import CliRunner

from video_ktr.cli.main import app
from video_ktr.trainer.experiment import Method, t_statistic


def test_method_specs_and_t_statistic():
    assert Method.parse("grpo") == Method("grpo", "grpo", [])
    assert Method.parse("ktr_none=ktr ktr.on_constant=none loss.beta=0") == \
        Method("ktr_none", "ktr", ["ktr.on_constant=none", "loss.beta=0"])
    # d = 1, 2, 3: mean 2, sd 1 → t = 2 / (1 / √3)
    assert math.isclose(t_statistic([1.0, 2.0, 3.0]), 2 * math.sqrt(3))
    assert math.isnan(t_statistic([1.0])) and t_statistic([0.0, 0.0]) == 0.0


def test_experiment_end_to_end(nano_model, toy_data, tmp_path):
    import inspect

    from transformers import Qwen2_5_VLModel

    # the fast probe needs transformers >= 5.21 (the vLLM leg has 5.17, where it is refused with a clear error)
    fast = "mm_encoder_outputs" in inspect.signature(Qwen2_5_VLModel.forward).parameters
    cfg = {"model": {"path": str(nano_model), "freeze_vision_tower": True},
           "data": {"train_path": str(toy_data / "train.json"), "eval_path": str(toy_data / "eval.json"),
                    "cache_media": True},
           "rollout": {"batch_size": 2, "group_size": 2, "max_new_tokens": 6},
           "loss": {"beta": 0.0}, "optim": {"lr": 1e-3, "lr_scheduler": "constant"},
           "trainer": {"max_steps": 2, "log_samples_every": 0, "report_to": []},
           "eval": {"max_new_tokens": 6, "max_samples": 4}, "sft": {"max_steps": 2, "batch_size": 2}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "exp"
    args = ["experiment", "-c", str(path), "--seeds", "2", "--out", str(out), "-m", "grpo",
            "-m", f"ktr_none=ktr ktr.on_constant=none ktr.temporal_fast={str(fast).lower()}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "experiment.json").read_text())
    assert sorted((r["method"], r["seed"]) for r in data["results"]) == \
        [("grpo", 0), ("grpo", 1), ("ktr_none", 0), ("ktr_none", 1)]
    run_cfg = yaml.safe_load((out / "runs" / "ktr_none" / "seed1" / "config.yaml").read_text())
    assert run_cfg["algorithm"] == "ktr" and run_cfg["ktr"]["on_constant"] == "none" and run_cfg["trainer"]["seed"] == 1
    assert run_cfg["model"]["path"] == str(out / "sft" / "model")        # every run starts from the one SFT checkpoint
    grpo_cfg = yaml.safe_load((out / "runs" / "grpo" / "seed0" / "config.yaml").read_text())
    assert grpo_cfg["ktr"]["enabled"] is False
    table = data["table"]
    cell = table["methods"]["ktr_none"]["metrics"]["eval/accuracy"]
    per = {(r["method"], r["seed"]): r["eval"]["eval/accuracy"] for r in data["results"]}
    diffs = [per[("ktr_none", s)] - per[("grpo", s)] for s in (0, 1)]
    assert math.isclose(cell["diff_mean"], sum(diffs) / 2) and cell["n_pairs"] == 2
    assert "ktr/frac_key" in table["methods"]["ktr_none"]["step_means"]
    assert table["methods"]["grpo"]["step_means"]["time/step"] > 0
    md = (out / "experiment.md").read_text()
    assert "| grpo |" in md and "| ktr_none |" in md and "t " in md and "start (SFT)" in md
    assert (out / "curves.png").stat().st_size > 0
    # resumable: finished runs are reused, not retrained
    stamp = (out / "runs" / "grpo" / "seed0" / "result.json").stat().st_mtime_ns
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (out / "runs" / "grpo" / "seed0" / "result.json").stat().st_mtime_ns == stamp

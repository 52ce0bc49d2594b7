"""Run-directory safety: a used run dir is never silently reused; resume checks settings, falls back over torn
checkpoints and truncates every log (metrics, samples, TensorBoard) to the checkpoint's step."""
import json

import pytest
import yaml
from typer.testing import CliRunner

from video_ktr.cli.main import app
from video_ktr.config import config_from_dict
from video_ktr.trainer import RLTrainer
from video_ktr.trainer.checkpoint import checkpoint_dirs, latest_checkpoint, prune, read_state
from video_ktr.trainer.rundir import RunDirError, write_json_atomic


def _rows(path):
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def _comparable(row):
    return {k: v for k, v in row.items() if not k.startswith(("time/", "perf/"))}


def _train(tmp_path, cfg, *extra):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), *extra])


def test_rerun_into_a_used_run_dir_keeps_every_old_row(tiny_cfg, tmp_path):
    cfg = tiny_cfg(trainer={"save_every": 1, "max_steps": 3})
    run = tmp_path / "run"
    assert _train(tmp_path, cfg).exit_code == 0
    before = {p: (run / p).read_bytes() for p in ("metrics.jsonl", "samples.jsonl", "config.yaml")}
    ckpts = [d.name for d in checkpoint_dirs(run)]
    res = _train(tmp_path, cfg, "--max-steps", "1")
    assert res.exit_code == 2 and "already holds a run" in res.output and "metrics.jsonl: 3 rows" in res.output
    assert {p: (run / p).read_bytes() for p in before} == before
    assert [d.name for d in checkpoint_dirs(run)] == ckpts == ["step-2", "step-3"]
    # --overwrite moves the old run aside, whole, and the new run keeps its own checkpoint
    res = _train(tmp_path, cfg, "--max-steps", "1", "--overwrite")
    assert res.exit_code == 0, res.output
    (old,) = tmp_path.glob("run.old-*")
    assert {p: (old / p).read_bytes() for p in before} == before and [d.name for d in checkpoint_dirs(old)] == ckpts
    assert [r["step"] for r in _rows(run / "metrics.jsonl")] == [1]
    assert [d.name for d in checkpoint_dirs(run)] == ["step-1"]


def test_resume_refuses_changed_defining_settings(tiny_cfg, tmp_path):
    cfg = tiny_cfg(trainer={"save_every": 1, "max_steps": 1})
    run = tmp_path / "run"
    assert _train(tmp_path, cfg).exit_code == 0
    saved = (run / "config.yaml").read_text()
    res = _train(tmp_path, tiny_cfg(trainer={"save_every": 1, "max_steps": 2}, algorithm="grpo"), "--resume",
                 "rollout.group_size=4", "optim.lr=0.0005")
    assert res.exit_code == 2, res.output
    for diff in ("algorithm: 'ktr' -> 'grpo'", "rollout.group_size: 2 -> 4", "optim.lr: 0.001 -> 0.0005"):
        assert diff in res.output
    assert (run / "config.yaml").read_text() == saved and len(_rows(run / "metrics.jsonl")) == 1
    # a longer run of the same settings resumes; --force-resume continues a changed one and keeps the old config
    assert _train(tmp_path, tiny_cfg(trainer={"save_every": 1, "max_steps": 2}), "--resume").exit_code == 0
    saved = (run / "config.yaml").read_text()
    res = _train(tmp_path, tiny_cfg(trainer={"save_every": 1, "max_steps": 3}), "--force-resume", "optim.lr=0.0005")
    assert res.exit_code == 0, res.output
    assert (run / "config.before-resume-2.yaml").read_text() == saved
    assert [r["step"] for r in _rows(run / "metrics.jsonl")] == [1, 2, 3]


def test_resume_falls_back_over_a_torn_checkpoint_and_truncates_logs(tiny_cfg, tmp_path):
    cfg = config_from_dict(tiny_cfg(trainer={"save_every": 1, "max_steps": 3, "keep_checkpoints": 3,
                                             "report_to": ["tensorboard"]}))
    RLTrainer(cfg).setup().train()
    run = tmp_path / "run"
    full = _rows(run / "metrics.jsonl")
    # the process died while writing step 3's checkpoint metadata and a metrics line
    (run / "checkpoints" / "step-3" / "trainer_state.json").write_text('{"step": 3, "da')
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "loss/po')
    assert latest_checkpoint(run).name == "step-2"
    resumed = RLTrainer(cfg, resume=True).setup()
    assert resumed.step_done == 2
    assert [r["step"] for r in _rows(run / "metrics.jsonl")] == [1, 2]
    assert {r["step"] for r in _rows(run / "samples.jsonl")} == {1, 2}
    assert not (run / "checkpoints" / "step-3").exists()
    resumed.train()
    again = _rows(run / "metrics.jsonl")
    assert [_comparable(r) for r in again] == [_comparable(r) for r in full]  # bit-identical continuation
    assert read_state(run / "checkpoints" / "step-3")["step"] == 3
    # TensorBoard holds each step once (the resumed writer purges events past step 2)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tb,) = {p.parent for p in run.rglob("events.out.tfevents*")}
    ea = EventAccumulator(str(tb))
    ea.Reload()
    steps = [e.step for e in ea.Scalars("reward/mean")]
    assert sorted(steps) == [1, 2, 3], steps


def test_pruning_never_deletes_the_new_checkpoint(tmp_path):
    for step in (2, 5, 9):
        d = tmp_path / "checkpoints" / f"step-{step}"
        (d / "accelerate").mkdir(parents=True)
        (d / "model").mkdir()
        write_json_atomic(d / "trainer_state.json", {"step": step})
    new = tmp_path / "checkpoints" / "step-3"
    (new / "accelerate").mkdir(parents=True)
    (new / "model").mkdir()
    write_json_atomic(new / "trainer_state.json", {"step": 3})
    assert not list(new.glob(".*tmp*"))
    prune(tmp_path, new, keep=1)
    assert sorted(d.name for d in checkpoint_dirs(tmp_path)) == ["step-3", "step-5", "step-9"]


def test_fresh_run_api_refuses_a_used_dir(tiny_cfg, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(RunDirError, match="already holds a run"):
        RLTrainer(config_from_dict(tiny_cfg())).setup()
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_sft_refuses_a_used_out_dir_before_loading_anything(tmp_path):
    from video_ktr.config import load_config
    from video_ktr.trainer.sft import run_sft

    out = tmp_path / "sft"
    (out / "model").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 1, "loss/sft": 2.0}\n')
    cfg = load_config(None, {"model": {"path": str(tmp_path / "no-model")}})
    with pytest.raises(RunDirError, match="metrics.jsonl: 1 rows"):
        run_sft(cfg, out)
    assert (out / "metrics.jsonl").read_text() == '{"step": 1, "loss/sft": 2.0}\n'
    with pytest.raises(FileNotFoundError, match="no-model"):  # --overwrite: moved aside, then the model is missing
        run_sft(cfg, out, overwrite=True)
    (old,) = tmp_path.glob("sft.old-*")
    assert (old / "metrics.jsonl").exists()

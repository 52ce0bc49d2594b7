"""``video-ktr demo``: the embedded default job, runnable offline on a 2-core CPU in a few minutes.

toy model (small) + synthetic videos → CoT-SFT warm-up on the vision-only control task → held-out eval → KTR RL on
every task, once per RL seed → held-out eval of each (all through the eval harness)
→ RUN/report.md (RL gain as mean ± std over the RL seeds), RUN/curves.png, RUN/rl/seed<s>/ (full run dirs).

The warm-up sees only ``static_colour`` (one colour throughout): it teaches the answer format and the colour
names, not the order task. ``first_colour`` (which colour comes first) starts near chance and is learnt by RL from
the reward alone — the gain the report measures.
"""
from __future__ import annotations

from pathlib import Path

import typer

# The demo's synthetic split (the CPU learning setting of configs/learn_cpu.yaml): a temporal-order task and its
# vision-only control (same square in every frame), two colours as options in a fixed order (chance 1/2), one-fact
# chains of thought, 32×32 clips of 16 frames at 4 fps (8 frames sampled).
DEMO_DATA = dict(frames=16, size=32, mix={"first_colour": 1, "static_colour": 1}, num_options=0, colours=2,
                 cot="short")


def demo(out: Path = typer.Option(Path("runs/demo"), help="Run directory (created; replaced if it exists)."),
         sft_steps: int = typer.Option(None, help="CoT-SFT warm-up steps (default: sft.max_steps of the config)."),
         rl_steps: int = typer.Option(None, help="RL steps per seed (default: trainer.max_steps of the config)."),
         rl_seeds: int = typer.Option(3, help="RL runs from the one SFT checkpoint (seeds SEED, SEED+1, ...): the "
                                           "report gives the RL gain as mean ± std over them."),
         algorithm: str = typer.Option("ktr", help="RL algorithm preset."),
         n_train: int = typer.Option(512, help="Synthetic training records."),
         sft_tasks: str = typer.Option("static_colour", help="Comma-separated toy tasks the CoT-SFT warm-up sees "
                                                              "('all' = every task); RL trains on all of them."),
         config: Path = typer.Option(None, help="Config (default: configs/demo_cpu.yaml of this checkout)."),
         n_eval: int = typer.Option(128, help="Held-out synthetic records (video items also form the Holmes split)."),
         seed: int = typer.Option(0, help="Seed for data, model, SFT and the first RL run.")) -> None:
    """Tiny Qwen2.5-VL + synthetic videos: CoT-SFT warm-up, then KTR from that checkpoint with several RL seeds,
    held-out evaluation before and after each; RUN/report.md gives the RL gain with its seed spread."""
    import shutil
    import time

    from video_ktr.config import load_config, merge_dicts
    from video_ktr.toy import build_tiny_vlm, build_toy_data
    from video_ktr.trainer import RLTrainer
    from video_ktr.trainer.report import evaluate_checkpoint, write_report
    from video_ktr.trainer.sft import run_sft

    if rl_seeds < 1:
        raise typer.BadParameter(f"--rl-seeds must be >= 1, got {rl_seeds}")
    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    base = build_tiny_vlm(out / "toy" / "model", size="small", seed=seed)
    data = build_toy_data(out / "toy" / "data", n=n_train, n_eval=n_eval, seed=seed, **DEMO_DATA)
    typer.echo(f"[1/5] toy model {base} and synthetic data {data}")
    cfg_path = config or Path(__file__).resolve().parents[2] / "configs" / "demo_cpu.yaml"
    if not cfg_path.is_file():
        raise typer.BadParameter(f"config {cfg_path} not found; pass --config configs/demo_cpu.yaml from a checkout")
    over = {"algorithm": algorithm,
            "model": {"path": str(base)},
            "data": {"train_path": str(data / "train.json"), "eval_path": str(data / "eval.json")},
            "trainer": {"output_dir": str(out), "seed": seed, "save_every": 0}}
    if rl_steps is not None:
        over["trainer"]["max_steps"] = rl_steps
    if sft_steps is not None:
        over["sft"] = {"max_steps": sft_steps}
    cfg = load_config(cfg_path, over)

    sft_cfg = load_config(cfg_path, merge_dicts(over, {"data": {"train_path": str(sft_split(data, sft_tasks))}}))
    typer.echo(f"[2/5] CoT-SFT warm-up on {sft_tasks}: {cfg.sft.max_steps} steps, lr {cfg.sft.lr}, "
               f"batch {cfg.sft.batch_size}")
    sft_ckpt = run_sft(sft_cfg, out / "sft")
    cfg.model.path = str(sft_ckpt)

    typer.echo("[3/5] held-out eval before RL (greedy)")
    holmes = data / "holmes"
    base_eval = evaluate_checkpoint(cfg, base, out / "eval" / "base", holmes_dir=holmes)
    before = evaluate_checkpoint(cfg, sft_ckpt, out / "eval" / "before_rl", holmes_dir=holmes)

    rl_runs = {}
    for rl_seed in range(seed, seed + rl_seeds):
        typer.echo(f"[4/5] {algorithm} RL, seed {rl_seed}: {cfg.trainer.max_steps} steps x "
                   f"{cfg.rollout.batch_size} prompts x {cfg.rollout.group_size}")
        cfg.trainer.seed, cfg.trainer.output_dir = rl_seed, str(out / "rl" / f"seed{rl_seed}")
        trainer = RLTrainer(cfg).setup()
        history = trainer.train()
        rl_ckpt = trainer.run_dir / "checkpoints" / f"step-{trainer.step_done}" / "model"
        after = evaluate_checkpoint(cfg, rl_ckpt, out / "eval" / f"after_rl_seed{rl_seed}", holmes_dir=holmes)
        typer.echo(f"      held-out accuracy {before['eval/accuracy']:.3f} -> {after['eval/accuracy']:.3f}")
        rl_runs[rl_seed] = {"history": history, "eval": after, "run_dir": str(trainer.run_dir)}

    typer.echo("[5/5] report")
    report = write_report(out, cfg, before, base_eval, rl_runs, time.perf_counter() - t0, sft_tasks=sft_tasks)
    typer.echo(report)


def sft_split(data: Path, tasks: str) -> Path:
    """``data/train_sft.json``: the training records of the toy ``tasks`` ("all": every record)."""
    import json

    records = json.loads((data / "train.json").read_text())
    if tasks != "all":
        wanted = {t.strip() for t in tasks.split(",") if t.strip()}
        known = {r["task"] for r in records}
        if not wanted or not wanted <= known:
            raise typer.BadParameter(f"--sft-tasks {tasks!r}: the demo's tasks are {sorted(known)} (or 'all')")
        records = [r for r in records if r["task"] in wanted]
    path = data / "train_sft.json"
    path.write_text(json.dumps(records, indent=1))
    return path

"""``video-ktr demo``: the embedded default job, runnable offline on a 2-core CPU in a few minutes.

toy model (small) + synthetic videos → CoT-SFT warm-up (frozen vision tower) → greedy eval → KTR RL → greedy eval
→ RUN/metrics.jsonl, RUN/tb, RUN/curves.png, RUN/report.md.
"""
from __future__ import annotations

from pathlib import Path

import typer


def demo(out: Path = typer.Option(Path("runs/demo"), help="Run directory (created; replaced if it exists)."),
         sft_steps: int = typer.Option(80, help="CoT-SFT warm-up steps (batch 16, lr 2e-3, vision tower frozen)."),
         rl_steps: int = typer.Option(60, help="RL steps (4 prompts x 4 samples, lr 1e-4)."),
         algorithm: str = typer.Option("ktr", help="RL algorithm preset."),
         n_train: int = typer.Option(256, help="Synthetic training records."),
         n_eval: int = typer.Option(32, help="Held-out synthetic records (video items also form the Holmes split)."),
         seed: int = typer.Option(0, help="Seed for data, model and training.")) -> None:
    """Tiny Qwen2.5-VL + synthetic videos: SFT warm-up, then KTR, with before/after held-out evaluation."""
    import shutil
    import time

    from video_ktr.config import load_config
    from video_ktr.toy import build_tiny_vlm, build_toy_data
    from video_ktr.trainer import RLTrainer
    from video_ktr.trainer.report import evaluate_checkpoint, write_report
    from video_ktr.trainer.sft import run_sft

    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    base = build_tiny_vlm(out / "toy" / "model", size="small", seed=seed)
    data = build_toy_data(out / "toy" / "data", n=n_train, n_eval=n_eval, seed=seed)
    typer.echo(f"[1/5] toy model {base} and synthetic data {data}")
    cfg_path = Path(__file__).resolve().parents[2] / "configs" / "demo_cpu.yaml"
    over = {"algorithm": algorithm,
            "model": {"path": str(base)},
            "data": {"train_path": str(data / "train.json"), "eval_path": str(data / "eval.json")},
            "trainer": {"output_dir": str(out), "max_steps": rl_steps, "seed": seed, "save_every": 0},
            "sft": {"lr": 2e-3, "max_steps": sft_steps, "batch_size": 16}}
    cfg = load_config(cfg_path if cfg_path.exists() else None, over)

    typer.echo(f"[2/5] CoT-SFT warm-up: {sft_steps} steps, lr {cfg.sft.lr}, vision tower frozen")
    sft_ckpt = run_sft(cfg, out / "sft")
    cfg.model.path = str(sft_ckpt)

    typer.echo("[3/5] held-out eval before RL (greedy)")
    holmes = data / "holmes"
    base_eval = evaluate_checkpoint(cfg, base, out / "eval" / "base", holmes_dir=holmes)
    before = evaluate_checkpoint(cfg, sft_ckpt, out / "eval" / "before_rl", holmes_dir=holmes)

    typer.echo(f"[4/5] {algorithm} RL: {rl_steps} steps x {cfg.rollout.batch_size} prompts x {cfg.rollout.group_size}")
    trainer = RLTrainer(cfg).setup()
    history = trainer.train()
    rl_ckpt = trainer.run_dir / "checkpoints" / f"step-{trainer.step_done}" / "model"

    typer.echo("[5/5] held-out eval after RL (greedy) and report")
    after = evaluate_checkpoint(cfg, rl_ckpt, out / "eval" / "after_rl", holmes_dir=holmes)
    wall = time.perf_counter() - t0
    report = write_report(out, cfg, history, {"base model": base_eval, "after SFT (before RL)": before,
                                              f"after {algorithm}": after}, wall)
    typer.echo(report)

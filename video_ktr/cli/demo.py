"""``video-ktr demo``: the embedded default job, runnable offline on a 2-core CPU in a few minutes.

toy model (small) + synthetic videos → CoT-SFT warm-up → held-out eval → KTR RL → held-out eval (both through the
eval harness)
→ RUN/metrics.jsonl, RUN/tb, RUN/curves.png, RUN/report.md.
"""
from __future__ import annotations

from pathlib import Path

import typer

# The demo's synthetic split: a temporal-order task and its vision-only control (same squares, one colour), every
# colour as an option in a fixed order (letter = colour), 32×32 clips of 16 frames at 4 fps (8 frames sampled).
DEMO_DATA = dict(frames=16, size=32, mix={"first_colour": 1, "static_colour": 1}, num_options=0)


def demo(out: Path = typer.Option(Path("runs/demo"), help="Run directory (created; replaced if it exists)."),
         sft_steps: int = typer.Option(None, help="CoT-SFT warm-up steps (default: sft.max_steps of the config)."),
         rl_steps: int = typer.Option(None, help="RL steps (default: trainer.max_steps of the config)."),
         algorithm: str = typer.Option("ktr", help="RL algorithm preset."),
         n_train: int = typer.Option(512, help="Synthetic training records."),
         config: Path = typer.Option(None, help="Config (default: configs/demo_cpu.yaml of this checkout)."),
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

    typer.echo(f"[2/5] CoT-SFT warm-up: {cfg.sft.max_steps} steps, lr {cfg.sft.lr}, batch {cfg.sft.batch_size}")
    sft_ckpt = run_sft(cfg, out / "sft")
    cfg.model.path = str(sft_ckpt)

    typer.echo("[3/5] held-out eval before RL (greedy)")
    holmes = data / "holmes"
    base_eval = evaluate_checkpoint(cfg, base, out / "eval" / "base", holmes_dir=holmes)
    before = evaluate_checkpoint(cfg, sft_ckpt, out / "eval" / "before_rl", holmes_dir=holmes)

    typer.echo(f"[4/5] {algorithm} RL: {cfg.trainer.max_steps} steps x {cfg.rollout.batch_size} prompts x {cfg.rollout.group_size}")
    trainer = RLTrainer(cfg).setup()
    history = trainer.train()
    rl_ckpt = trainer.run_dir / "checkpoints" / f"step-{trainer.step_done}" / "model"

    typer.echo("[5/5] held-out eval after RL (greedy) and report")
    after = evaluate_checkpoint(cfg, rl_ckpt, out / "eval" / "after_rl", holmes_dir=holmes)
    wall = time.perf_counter() - t0
    report = write_report(out, cfg, history, {"base model": base_eval, "after SFT (before RL)": before,
                                              f"after {algorithm}": after}, wall)
    typer.echo(report)

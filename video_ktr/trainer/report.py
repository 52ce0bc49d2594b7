"""Demo outputs: held-out evaluation of a checkpoint, the reward/accuracy curve PNG and a short markdown report."""
from __future__ import annotations

import json
from pathlib import Path


def evaluate_checkpoint(cfg, ckpt: str | Path, out_dir: str | Path, *,
                        holmes_dir: str | Path | None = None) -> dict[str, float]:
    """Held-out evaluation of ``ckpt`` through the benchmark harness (``video_ktr.eval``): greedy decoding, the
    training run's frame/pixel budget (``cfg.data``: fps/nframes, min/max frames, pixel caps — written into each
    summary's ``budget``), the Video-R1-format split ``cfg.data.eval_path`` (and, if given, a Video-Holmes-format
    folder with its official prompt and scorer). Results stream to ``out_dir/<bench>/`` (resumable JSONL, summary).

    Returns fractions in [0, 1]: {"eval/accuracy", "eval/format" (format reward of the raw outputs), "eval/n"}
    (+ "eval/holmes_accuracy", "eval/holmes_n").
    """
    from video_ktr.eval import Decoding, evaluate, make_backend, read_results
    from video_ktr.rewards import format_reward
    from video_ktr.trainer.batches import media_budget

    decoding = Decoding(greedy=True, max_new_tokens=cfg.eval.max_new_tokens)
    backend = make_backend(str(ckpt), decoding=decoding)
    out = Path(out_dir)
    kw = dict(budget=media_budget(cfg.data), decoding=decoding, batch_size=cfg.eval.batch_size,
              limit=cfg.eval.max_samples, overwrite=True, model_name=str(ckpt))
    s = evaluate(backend, "video_r1", cfg.data.eval_path, out / "video_r1", template=cfg.data.template, **kw)
    rows, _ = read_results(out / "video_r1" / "results.jsonl")
    rows = [r for r in rows if not r.get("skipped")]
    fmt = format_reward([r["output"] for r in rows])
    res = {"eval/accuracy": (s["overall"]["accuracy"] or 0.0) / 100, "eval/format": sum(fmt) / max(len(fmt), 1),
           "eval/n": len(rows)}
    for source, cell in s["groups"].get("data_source", {}).items():      # per task / source, e.g. toy/first_colour
        res[f"eval/accuracy/{source}"] = (cell["accuracy"] or 0.0) / 100
    if holmes_dir is not None:
        h = evaluate(backend, "holmes", holmes_dir, out / "holmes", **kw)
        res |= {"eval/holmes_accuracy": (h["overall"]["accuracy"] or 0.0) / 100, "eval/holmes_n": h["num_done"]}
    return res


def _window_mean(xs: list[float], k: int) -> list[float]:
    return [sum(xs[max(0, i - k + 1):i + 1]) / len(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]


def plot_curves(histories: dict[str, list[dict]], path: Path, sft_history: list[dict] | None = None) -> None:
    """CoT-SFT loss (if given), sampled training accuracy per RL run (raw and 5-step mean), and the first run's
    key-token fractions — one panel each. ``histories``: run label → its per-step metric dicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if sft_history else 2
    fig, ax = plt.subplots(1, panels, figsize=(5 * panels, 3.6))
    if sft_history:
        ax[0].plot([h["step"] for h in sft_history], [h["loss/sft"] for h in sft_history])
        ax[0].set_yscale("log"), ax[0].set_xlabel("SFT step"), ax[0].set_title("CoT-SFT loss (answer tokens)")
    rl, frac = ax[-2], ax[-1]
    for label, history in histories.items():
        steps = [h["step"] for h in history]
        ys = [h.get("reward/accuracy", float("nan")) for h in history]
        rl.plot(steps, ys, alpha=0.2)
        rl.plot(steps, _window_mean(ys, 5), label=f"{label} (5-step mean)", color=rl.lines[-1].get_color())
    rl.set_xlabel("RL step"), rl.set_ylim(-0.02, 1.02)
    rl.set_title("training accuracy (sampled, T = 1)"), rl.legend(fontsize=8)
    label, first = next(iter(histories.items()))
    for key in ("ktr/frac_entropy", "ktr/frac_visual", "ktr/frac_temporal", "ktr/frac_key"):
        if key in first[0]:
            frac.plot([h["step"] for h in first], [h[key] for h in first], label=key)
    frac.set_xlabel("RL step"), frac.set_title(f"key-token fractions ({label})"), frac.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(run_dir: Path, cfg, sft_eval: dict, base_eval: dict, rl_runs: dict[int, dict], wall_s: float,
                 sft_tasks: str = "all") -> str:
    """RUN/curves.png, RUN/report.md and RUN/demo_summary.json; returns the markdown.

    sft_eval / base_eval: :func:`evaluate_checkpoint` results of the RL start and of the untrained model;
    rl_runs: RL seed → {"history": per-step metrics, "eval": held-out result after RL, "run_dir": str};
    sft_tasks: the tasks the warm-up saw (for the header).
    The RL gain is reported per seed and as mean ± sample std over the seeds (the seed-to-seed noise).
    """
    from video_ktr.trainer.experiment import mean_std   # sample std over seeds, as the experiment tables

    sft_path = run_dir / "sft" / "metrics.jsonl"
    sft_history = [json.loads(x) for x in sft_path.read_text().splitlines()] if sft_path.is_file() else None
    algo = cfg.algorithm
    plot_curves({f"{algo} seed {s}": r["history"] for s, r in rl_runs.items()}, run_dir / "curves.png", sft_history)
    first_hist = next(iter(rl_runs.values()))["history"]
    k = max(1, min(10, len(first_hist) // 2))
    mean = lambda rows, key: sum(r.get(key, 0.0) for r in rows) / len(rows)  # noqa: E731
    n_steps = len(first_hist)
    lines = [f"# Demo report: {algo} on the synthetic video tasks (CPU)", "",
             f"Tiny Qwen2.5-VL (toy `small`): {cfg.sft.max_steps} CoT-SFT steps (lr {cfg.sft.lr:g}) on {sft_tasks}, then "
             f"{n_steps} {algo} steps × {cfg.rollout.batch_size} prompts × {cfg.rollout.group_size} samples on every task "
             f"(lr {cfg.optim.lr:g}) from that one checkpoint, once per RL seed ({len(rl_runs)} seeds: "
             f"{', '.join(map(str, rl_runs))}); wall time {wall_s:.0f} s.", ""]
    if sft_history:
        lines += [f"CoT-SFT loss {sft_history[0]['loss/sft']:.3f} → {sft_history[-1]['loss/sft']:.3f} over "
                  f"{len(sft_history)} steps.", ""]
    lines += [f"## RL training signal (mean of the first vs last {k} steps, per seed)", "",
              "| seed | metric | first | last |", "|---|---|---|---|"]
    for s, r in rl_runs.items():
        h = r["history"]
        for key in ("reward/accuracy", "reward/format", "ktr/frac_key", "policy/entropy", "completion/length_mean"):
            if key in h[0]:
                lines.append(f"| {s} | {key} | {mean(h[:k], key):.3f} | {mean(h[-k:], key):.3f} |")
    evals = {"base model": base_eval, "after SFT (before RL)": sft_eval} | \
        {f"after {algo}, seed {s}": r["eval"] for s, r in rl_runs.items()}
    lines += ["", "## Held-out evaluation (greedy, `video_ktr.eval` harness, training frame budget)", "",
              f"{int(sft_eval['eval/n'])} records of the Video-R1-format split (Video-R1 scorer, training prompt) "
              f"and {int(sft_eval.get('eval/holmes_n', 0))} of the Video-Holmes-format split (official prompt and "
              "answer extraction).", ""]
    sources = sorted({k2 for e in evals.values() for k2 in e if k2.startswith("eval/accuracy/")})
    head = ["checkpoint", "accuracy", "format"] + [k2.split("/", 2)[2] for k2 in sources] + ["Holmes-format accuracy"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, e in evals.items():
        cells = [e["eval/accuracy"], e["eval/format"]] + [e.get(k2, float("nan")) for k2 in sources] + \
            [e.get("eval/holmes_accuracy", float("nan"))]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    after = [r["eval"]["eval/accuracy"] for r in rl_runs.values()]
    gains = [a - sft_eval["eval/accuracy"] for a in after]
    (after_m, after_sd), (gain_m, gain_sd) = mean_std(after), mean_std(gains)
    lines += ["", f"**RL gain** (held-out accuracy after {algo} − after SFT, same start): {gain_m:+.3f} ± "
              f"{gain_sd:.3f} (mean ± std over {len(gains)} RL seeds: " +
              ", ".join(f"{g:+.3f}" for g in gains) + f"); after {algo}: {after_m:.3f} ± {after_sd:.3f}. "
              f"One held-out item is {1 / max(sft_eval['eval/n'], 1):.3f} of accuracy. A 1 M-parameter model on "
              "synthetic clips: the numbers show the pipeline runs and RL learns, not what KTR gains on a 7B model.",
              "", "Files: `rl/seed<s>/` (each RL run: `metrics.jsonl`, `samples.jsonl` with key tokens, `tb/`, "
              "`config.yaml`, `checkpoints/`), `eval/*/summary.json`, `sft/`, `curves.png`."]
    text = "\n".join(lines) + "\n"
    (run_dir / "report.md").write_text(text)
    summary = {"wall_s": wall_s, "evals": evals, "rl_gain": {"mean": gain_m, "std": gain_sd, "per_seed": gains},
               "rl_seeds": list(rl_runs),
               "training": {str(s): {"first": {k2: mean(r["history"][:k], k2) for k2 in ("reward/mean", "reward/accuracy")},
                                     "last": {k2: mean(r["history"][-k:], k2) for k2 in ("reward/mean", "reward/accuracy")}}
                            for s, r in rl_runs.items()}}
    (run_dir / "demo_summary.json").write_text(json.dumps(summary, indent=1))
    return text

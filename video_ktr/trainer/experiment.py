"""Same-data experiment: one SFT checkpoint, N paired seeds × methods, greedy held-out eval, a paired table.

``run_experiment(cfg, methods, seeds, out)`` trains every (method, seed) from the same starting checkpoint on the
same records — seed s gives every method the same prompt order and the same sampling seed — evaluates each final
checkpoint greedily through the eval harness at the training frame budget, and writes:

    OUT/runs/<method>/seed<s>/     the run dir (metrics.jsonl, config.yaml, eval/after/…, result.json)
    OUT/experiment.json            every result + the aggregated table
    OUT/experiment.md              the paired table (mean ± std, paired difference vs the first method, t statistic)
    OUT/curves.png                 training reward and key-token share per step (mean over seeds) + held-out pairs

A method is ``"name=algorithm override ..."`` (``"ktr_none=ktr ktr.on_constant=none"``), or just an algorithm
preset name. Finished runs (``result.json`` present) are reused, so an interrupted experiment resumes.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

# per-step metrics summarised per run (mean over steps): key-token statistics and the step's wall time
STEP_KEYS = ("ktr/frac_key", "ktr/frac_entropy", "ktr/frac_visual", "ktr/frac_temporal", "ktr/constant_temporal",
             "ktr/constant_visual", "policy/entropy", "completion/length_mean", "data/informative_frac",
             "time/step")


@dataclass
class Method:
    """One arm of the experiment: a label, an algorithm preset and dotted config overrides."""

    name: str
    algorithm: str
    overrides: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: str) -> "Method":
        """``"grpo"`` | ``"label=algorithm key=value key=value"``."""
        label, _, rest = spec.partition("=") if "=" in spec.split()[0] else ("", "", spec)
        parts = rest.split()
        if not parts:
            raise ValueError(f"method {spec!r}: give an algorithm preset, e.g. 'ktr' or 'ktr_none=ktr "
                             f"ktr.on_constant=none'")
        return cls(label or parts[0], parts[0], parts[1:])


def t_statistic(diffs: list[float]) -> float:
    """Paired t = mean(d) / (sd(d) / √n); NaN for n < 2; ±inf when every difference is the same non-zero value."""
    n = len(diffs)
    if n < 2:
        return float("nan")
    m = sum(diffs) / n
    sd = math.sqrt(sum((d - m) ** 2 for d in diffs) / (n - 1))
    if sd == 0:
        return 0.0 if m == 0 else math.copysign(math.inf, m)
    return m / (sd / math.sqrt(n))


def mean_std(xs: list[float]) -> tuple[float, float]:
    n = len(xs)
    m = sum(xs) / n
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0)


def run_config(config_path, overrides: dict, method: Method, seed: int, init: str, run_dir: Path):
    """The run's config: YAML → experiment overrides → the method's preset and overrides → seed / init / run dir."""
    from video_ktr.config import load_config, merge_dicts, parse_overrides

    over = merge_dicts(overrides, {"algorithm": method.algorithm, "model": {"path": str(init)},
                                   "trainer": {"seed": seed, "output_dir": str(run_dir), "save_every": 0,
                                               "progress_bar": False}})
    return load_config(config_path, merge_dicts(over, parse_overrides(method.overrides)))


def run_one(config_path, overrides: dict, method: Method, seed: int, init: str, run_dir: Path, *,
            echo=print) -> dict:
    """Train ``method`` with ``seed`` from ``init``, evaluate the final checkpoint; returns (and saves) the result."""
    from video_ktr.trainer.report import evaluate_checkpoint
    from video_ktr.trainer.rl import RLTrainer

    done = run_dir / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = run_config(config_path, overrides, method, seed, init, run_dir)
    t0 = time.perf_counter()
    trainer = RLTrainer(cfg, overwrite=True).setup()  # a run without result.json was interrupted: redo it
    history = trainer.train()
    train_s = time.perf_counter() - t0
    ckpt = trainer.run_dir / "checkpoints" / f"step-{trainer.step_done}" / "model"
    ev = evaluate_checkpoint(cfg, ckpt, run_dir / "eval" / "after")
    steps = {k: [h[k] for h in history if k in h and h[k] == h[k]] for k in STEP_KEYS}
    res = {"method": method.name, "algorithm": method.algorithm, "overrides": method.overrides, "seed": seed,
           "eval": ev, "train_s": train_s, "steps": len(history),
           "step_means": {k: sum(v) / len(v) for k, v in steps.items() if v},
           "curve": [{"step": h["step"], "reward/mean": h["reward/mean"],
                      "reward/accuracy": h.get("reward/accuracy", float("nan")),
                      "ktr/frac_key": h.get("ktr/frac_key", 1.0)} for h in history]}
    done.write_text(json.dumps(res, indent=1))
    echo(f"  {method.name} seed {seed}: held-out accuracy {ev['eval/accuracy']:.3f} "
         f"({res['step_means'].get('time/step', float('nan')):.2f} s/step)")
    return res


def aggregate(results: list[dict], before: dict, methods: list[Method]) -> dict:
    """The paired table: per method and metric (overall + per task) mean ± std over seeds; vs the first method the
    paired difference (same seed) mean ± std and its t statistic; step means (key tokens, s/step)."""
    metrics = ["eval/accuracy"] + sorted({k for r in results for k in r["eval"] if k.startswith("eval/accuracy/")})
    by = {(r["method"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results})
    base = methods[0].name
    table: dict = {"seeds": seeds, "baseline": base, "before": {m: before.get(m) for m in metrics}, "methods": {}}
    for meth in methods:
        rows = [by[(meth.name, s)] for s in seeds if (meth.name, s) in by]
        entry: dict = {"n": len(rows), "metrics": {}, "step_means": {}}
        for m in metrics:
            vals = [r["eval"].get(m, float("nan")) for r in rows]
            mu, sd = mean_std(vals)
            cell = {"mean": mu, "std": sd, "per_seed": vals}
            if meth.name != base:
                d = [by[(meth.name, s)]["eval"].get(m, float("nan")) - by[(base, s)]["eval"].get(m, float("nan"))
                     for s in seeds if (meth.name, s) in by and (base, s) in by]
                dm, dsd = mean_std(d)
                cell |= {"diff_mean": dm, "diff_std": dsd, "t": t_statistic(d), "n_pairs": len(d)}
            entry["metrics"][m] = cell
        for k in STEP_KEYS:
            vals = [r["step_means"][k] for r in rows if k in r["step_means"]]
            if vals:
                entry["step_means"][k] = sum(vals) / len(vals)
        table["methods"][meth.name] = entry
    return table


def table_markdown(table: dict, methods: list[Method]) -> str:
    """experiment.md: the paired table, per task, then the key-token statistics and s/step."""
    metrics = list(next(iter(table["methods"].values()))["metrics"])
    name = lambda m: "overall" if m == "eval/accuracy" else m.split("/", 2)[2]  # noqa: E731
    base = table["baseline"]
    n = len(table["seeds"])
    lines = [f"Held-out accuracy (greedy, eval harness, training frame budget); {n} paired seeds "
             f"{table['seeds']}; Δ = paired difference vs `{base}` (same seed), t = mean Δ / (sd Δ / √n).", "",
             "| method | " + " | ".join(name(m) for m in metrics) + " |", "|---|" + "---|" * len(metrics)]
    before = table["before"]
    lines.append("| start (SFT) | " + " | ".join(f"{before[m]:.3f}" if before.get(m) is not None else "–"
                                                for m in metrics) + " |")
    for meth in methods:
        e = table["methods"][meth.name]["metrics"]
        cells = []
        for m in metrics:
            c = e[m]
            s = f"{c['mean']:.3f} ± {c['std']:.3f}"
            if "diff_mean" in c:
                s += f" (Δ {c['diff_mean']:+.3f} ± {c['diff_std']:.3f}, t {c['t']:+.2f})"
            cells.append(s)
        lines.append(f"| {meth.name} | " + " | ".join(cells) + " |")
    keys = [k for k in STEP_KEYS if any(k in table["methods"][m.name]["step_means"] for m in methods)]
    lines += ["", "Per-step means over the run (key-token shares of valid tokens; `constant_*` = share of rows whose "
              "group's signal was constant, i.e. had no ranking; `time/step` = wall seconds per RL step):", "",
              "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for meth in methods:
        sm = table["methods"][meth.name]["step_means"]
        lines.append(f"| {meth.name} | " + " | ".join(f"{sm[k]:.3f}" if k in sm else "–" for k in keys) + " |")
    lines += ["", "Methods: " + "; ".join(f"`{m.name}` = {m.algorithm}" + (f" + {' '.join(m.overrides)}"
                                                                          if m.overrides else "") for m in methods)]
    return "\n".join(lines) + "\n"


def plot_experiment(results: list[dict], table: dict, methods: list[Method], path: Path) -> None:
    """Training accuracy (sampled) per step, mean over seeds (5-step window); key-token share; held-out pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    for meth in methods:
        runs = [r["curve"] for r in results if r["method"] == meth.name]
        if not runs:
            continue
        steps = [c["step"] for c in runs[0]]
        for i, key in ((0, "reward/accuracy"), (1, "ktr/frac_key")):
            ys = [sum(run[j][key] for run in runs) / len(runs) for j in range(min(map(len, runs)))]
            ys = [sum(ys[max(0, j - 4):j + 1]) / len(ys[max(0, j - 4):j + 1]) for j in range(len(ys))]
            ax[i].plot(steps[:len(ys)], ys, label=meth.name)
    ax[0].set_title("training accuracy (sampled, mean over seeds, 5-step window)"), ax[0].set_xlabel("RL step")
    ax[1].set_title("share of tokens in the loss"), ax[1].set_xlabel("RL step")
    seeds = table["seeds"]
    before = table["before"].get("eval/accuracy")
    for s in seeds:
        ys = [table["methods"][m.name]["metrics"]["eval/accuracy"]["per_seed"][seeds.index(s)]
              if s in seeds and len(table["methods"][m.name]["metrics"]["eval/accuracy"]["per_seed"]) == len(seeds)
              else float("nan") for m in methods]
        ax[2].plot(range(len(methods)), ys, "o-", color="grey", alpha=0.5)
    ax[2].plot(range(len(methods)), [table["methods"][m.name]["metrics"]["eval/accuracy"]["mean"] for m in methods],
               "s-", color="black", label="mean")
    if before is not None:
        ax[2].axhline(before, ls="--", color="tab:red", label="start (SFT)")
    ax[2].set_xticks(range(len(methods)), [m.name for m in methods])
    ax[2].set_title("held-out accuracy per seed (lines = paired seeds)")
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_experiment(config_path, overrides: dict, methods: list[Method], seeds: list[int], out: str | Path, *,
                   init: str | None = None, echo=print) -> dict:
    """The whole grid. config_path + overrides: the shared config (its ``algorithm`` is replaced per method).
    init: the starting checkpoint; None trains one CoT-SFT checkpoint from ``model.path`` with the ``sft`` section
    (once, reused by every run). Returns the aggregated table (also in OUT/experiment.json)."""
    from video_ktr.config import load_config
    from video_ktr.trainer.report import evaluate_checkpoint
    from video_ktr.trainer.sft import run_sft

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in methods]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"method names must be unique and at least one, got {names}")
    for m in methods:  # every run's config must build before hours of training start
        run_config(config_path, overrides, m, seeds[0], init or "unused", out / "runs" / m.name)
    cfg = load_config(config_path, overrides)
    if not cfg.data.eval_path:
        raise ValueError("the experiment needs held-out records: set data.eval_path (or --eval)")
    if init is None:
        init = out / "sft" / "model"
        if not (init / "config.json").is_file():
            echo(f"CoT-SFT: {cfg.sft.max_steps} steps, lr {cfg.sft.lr} -> {init}")
            run_sft(cfg, out / "sft", overwrite=True)
    before_path = out / "before.json"
    if before_path.is_file():
        before = json.loads(before_path.read_text())
    else:
        before = evaluate_checkpoint(cfg, init, out / "eval" / "before")
        before_path.write_text(json.dumps(before, indent=1))
    echo(f"start checkpoint {init}: held-out accuracy {before['eval/accuracy']:.3f}")
    results = []
    for seed in seeds:
        for meth in methods:
            results.append(run_one(config_path, overrides, meth, seed, str(init),
                                   out / "runs" / meth.name / f"seed{seed}", echo=echo))
    table = aggregate(results, before, methods)
    (out / "experiment.json").write_text(json.dumps({"table": table, "results": results, "init": str(init),
                                                     "methods": [m.__dict__ for m in methods]}, indent=1))
    (out / "experiment.md").write_text(table_markdown(table, methods))
    plot_experiment(results, table, methods, out / "curves.png")
    return table

"""Read a run directory written by the trainer (format: docs/dev/CONTRACTS.md, "trainer → analysis").

Everything here is plain file reading: no torch, no model. Missing optional files give empty results, a missing
run directory raises with the path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SIGNALS = ("entropy", "visual", "temporal")   # the three KTR signals, in the order the paper lists them
MASK_NAMES = (*SIGNALS, "key")                # key = the union the loss actually uses
FRAMES_DIR = "samples/frames"                 # where the trainer writes the logged samples' frames
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Sample:
    """One logged completion (a row of RUN/samples.jsonl). Lists are per completion token, length T."""
    step: int
    problem_id: str
    problem: str
    data_type: str
    completion: str
    tokens: list[str]
    reward: float
    advantage: float
    rewards: dict[str, float]
    scores: dict[str, list[float | None]]   # signal -> (T,), None where not computed
    masks: dict[str, list[int]]             # "entropy" | "visual" | "temporal" | "key" -> (T,) 0/1
    frames: list[Path]                      # absolute paths of the sampled frames (may be empty)
    raw: dict = field(repr=False, default_factory=dict)

    def applies(self, signal: str) -> bool:
        """Whether a signal was computed for this sample: logged, not all-null, and not temporal on an image
        (METHOD §1: images use entropy ∪ visual only, whatever a logger wrote)."""
        if signal == "key":
            return "key" in self.masks
        if signal not in self.masks or (signal == "temporal" and self.data_type == "image"):
            return False
        scores = self.scores.get(signal)
        return scores is None or any(x is not None for x in scores)

    def mask(self, name: str) -> list[int]:
        """The 0/1 mask of one signal, zeros when the trainer did not log it (e.g. temporal on images)."""
        m = self.masks.get(name)
        return list(m) if m is not None else [0] * len(self.tokens)


def own_frames(run: Path, names) -> list[Path]:
    """The logged frame paths that the run wrote itself: PNG/JPEG files under RUN/samples/frames once symlinks are
    resolved. Anything else (``/etc/passwd``, ``../x.png``, a link out of the run) is dropped, never read."""
    root = (Path(run) / FRAMES_DIR).resolve()
    out = []
    for name in names if isinstance(names, list) else []:
        if not isinstance(name, str) or Path(name).is_absolute():
            continue
        path = (Path(run) / name).resolve()
        if path.is_relative_to(root) and path.suffix.lower() in FRAME_SUFFIXES:
            out.append(path)
    return out


def read_jsonl(path: Path) -> list[dict]:
    """Parse a JSON-lines file, skipping blank lines; errors name the file and line."""
    rows = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e}); each line must be one JSON object") from None
    return rows


def check_run_dir(run: Path) -> Path:
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist; pass the --out of `video-ktr train`/`demo`")
    return run


def load_metrics(run: Path) -> list[dict]:
    """RUN/metrics.jsonl, one dict per optimizer step, sorted by step ([] when absent)."""
    path = check_run_dir(run) / "metrics.jsonl"
    return sorted(read_jsonl(path), key=lambda r: r.get("step", 0)) if path.exists() else []


def load_samples(run: Path) -> list[Sample]:
    """RUN/samples.jsonl as `Sample`s; checks that every per-token list has the length of `tokens`."""
    run = check_run_dir(run)
    path = run / "samples.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; the trainer writes it every `log_samples_every` steps")
    out = []
    for i, r in enumerate(read_jsonl(path), 1):
        tokens = list(r.get("tokens", []))
        scores = {k: list(v) for k, v in (r.get("scores") or {}).items() if v is not None}
        masks = {k: [int(x) for x in v] for k, v in (r.get("masks") or {}).items() if v is not None}
        for kind, d in (("scores", scores), ("masks", masks)):
            for k, v in d.items():
                if len(v) != len(tokens):
                    raise ValueError(f"{path}:{i}: {kind}[{k!r}] has {len(v)} entries but tokens has {len(tokens)}")
        out.append(Sample(
            step=int(r.get("step", 0)), problem_id=str(r.get("problem_id", "")), problem=str(r.get("problem", "")),
            data_type=str(r.get("data_type", "")), completion=str(r.get("completion", "")), tokens=tokens,
            reward=float(r.get("reward", 0.0)), advantage=float(r.get("advantage", 0.0)),
            rewards={k: float(v) for k, v in (r.get("rewards") or {}).items() if v is not None},
            scores=scores, masks=masks, frames=own_frames(run, r.get("frames")), raw=r))
    return out


def load_eval_summaries(run: Path) -> dict[str, dict]:
    """RUN/eval/<name>/summary.json -> {name: summary}, sorted by name ({} when absent). Nested layouts such as
    `video-ktr eval --out RUN/eval`'s RUN/eval/<bench>/frames<N>/summary.json are named "<bench>/frames<N>"."""
    root = check_run_dir(run) / "eval"
    if not root.is_dir():
        return {}
    return {p.parent.relative_to(root).as_posix(): json.loads(p.read_text())
            for p in sorted(root.rglob("summary.json")) if p.parent != root}


def run_labels(runs: list[Path]) -> list[str]:
    """Short labels for tables and legends: directory names, with the parent added where names collide."""
    paths = [Path(r).resolve() for r in runs]
    names = [p.name for p in paths]
    labels = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    return [f"{lab} #{labels[:i].count(lab) + 1}" if labels.count(lab) > 1 else lab for i, lab in enumerate(labels)]

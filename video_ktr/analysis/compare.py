"""The same-data table for our runs: eval summaries side by side, with deltas against the first run.

Each `RUN/eval/<name>/summary.json` gives one column. Its headline number is the first of `HEADLINE_KEYS` found as
the last part of a key (`accuracy`, `overall.accuracy`, `eval/accuracy`; the shortest such key wins), unless `metric`
names a dotted key. Fractions are shown as percentages (×100)
when every value of the table is in [0, 1] and one lies strictly between; the JSON keeps the raw numbers.
"""
from __future__ import annotations

import re

HEADLINE_KEYS = ("accuracy", "acc", "overall", "score", "mean")


def flatten(d: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as dotted keys (bools dropped)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def headline(summary: dict, metric: str | None = None) -> float | None:
    """The number a summary is compared on (see the module docstring)."""
    flat = flatten(summary)
    if metric:
        return flat.get(metric)
    for k in HEADLINE_KEYS:
        found = [key for key in flat if re.split(r"[./]", key)[-1] == k]    # "accuracy", "overall.accuracy", "eval/accuracy"
        if found:
            return flat[min(found, key=len)]
    return None


def compare_table(runs: dict[str, dict[str, dict]], *, metric: str | None = None) -> dict:
    """runs: label -> {eval name -> summary}. Returns {"columns", "rows": [{"run", "values", "avg", "deltas",
    "avg_delta"}]} where deltas are against the first run (None where either side is missing)."""
    columns = sorted({name for evals in runs.values() for name in evals})
    rows = []
    for label, evals in runs.items():
        values = {c: headline(evals[c], metric) if c in evals else None for c in columns}
        present = [v for v in values.values() if v is not None]
        rows.append({"run": label, "values": values,
                     "avg": sum(present) / len(present) if present and len(present) == len(columns) else None})
    base = rows[0] if rows else None
    for r in rows:
        r["deltas"] = {c: (r["values"][c] - base["values"][c]
                           if r["values"][c] is not None and base["values"][c] is not None else None) for c in columns}
        r["avg_delta"] = r["avg"] - base["avg"] if r["avg"] is not None and base["avg"] is not None else None
    return {"columns": columns, "metric": metric or "/".join(HEADLINE_KEYS), "rows": rows}


def _fmt(v: float | None, scale: float, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v * scale:+.1f}" if signed else f"{v * scale:.1f}"


def to_markdown(table: dict) -> str:
    """Markdown table: one row per run, `value (delta)` per eval column, average last."""
    cols, rows = table["columns"], table["rows"]
    vals = [v for r in rows for v in r["values"].values() if v is not None]
    scale = 100.0 if vals and all(0.0 <= v <= 1.0 for v in vals) and any(0.0 < v < 1.0 for v in vals) else 1.0
    head = "| run | " + " | ".join(cols) + " | avg |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for i, r in enumerate(rows):
        cells = []
        for c in [*cols, None]:
            v, d = (r["values"][c], r["deltas"][c]) if c else (r["avg"], r["avg_delta"])
            cell = _fmt(v, scale)
            if i > 0 and d is not None:
                cell += f" ({_fmt(d, scale, signed=True)})"
            cells.append(cell)
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    unit = "accuracy ×100" if scale == 100.0 else "raw values"
    return "\n".join(lines) + f"\n\n{unit}; (±x) = difference to {rows[0]['run'] if rows else '–'}.\n"

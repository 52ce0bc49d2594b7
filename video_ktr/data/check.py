"""Validate a dataset end to end: every row against the schema, every media file decoded under the budget.

``check_dataset`` returns a ``CheckResult`` (counts + the bad rows, each named); ``video-ktr data check`` renders it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from video_ktr.data.budget import MediaBudget
from video_ktr.data.media import MediaError, load_media
from video_ktr.data.schema import load_records


@dataclass
class Problem:
    """One bad row: where it is, which kind of problem ("invalid" | "missing" | "corrupt"), and the message."""

    index: int | None
    problem_id: int | str | None
    kind: str
    message: str


@dataclass
class CheckResult:
    source: Path
    num_rows: int = 0
    num_ok: int = 0
    by_data_type: Counter = field(default_factory=Counter)
    by_problem_type: Counter = field(default_factory=Counter)
    by_data_source: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    clamped: list[str] = field(default_factory=list)   # records whose overrides exceed the run's caps (lowered)

    @property
    def counts(self) -> Counter:
        """"invalid" / "missing" / "corrupt" → number of rows."""
        return Counter(p.kind for p in self.problems)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(path: str | Path, root: str | Path | None = None, *, budget: MediaBudget | None = None,
                  patch_multiple: int = 28, backend: str = "pyav", open_media: bool = True,
                  progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None,
                  allow_outside_root: bool = False) -> CheckResult:
    """Validate all rows of ``path`` and (``open_media``) decode each row's media; never stops at the first error.

    progress: called with 1 after each media file (for a progress bar); on_total: called once with the row count.
    """
    report = load_records(path, root=root, on_error="skip", allow_outside_root=allow_outside_root)
    result = CheckResult(source=Path(path))
    result.num_rows = len(report.records) + report.num_skipped
    for message in report.errors:
        result.problems.append(Problem(None, _problem_id(message), "invalid", message))
    if on_total is not None:
        on_total(len(report.records))
    budget = budget or MediaBudget()
    for record in report.records:
        result.by_data_type[record.data_type] += 1
        result.by_problem_type[record.problem_type] += 1
        result.by_data_source[record.data_source or "(none)"] += 1
        try:
            if over := budget.clamped(record.extra, record.data_type):
                result.clamped.append(f"{record.where}: {', '.join(over)}")
        except ValueError:
            pass  # reported as an invalid row when the media is opened
        if open_media:
            try:
                load_media(record, budget, patch_multiple, backend=backend)
            except MediaError as e:
                result.problems.append(Problem(record.index, record.problem_id, e.reason, f"{record.where}: {e}"))
            else:
                result.num_ok += 1
            finally:
                if progress is not None:
                    progress(1)
        else:
            result.num_ok += 1
    return result


def _problem_id(message: str) -> str | None:
    """The ``problem_id=…`` a schema error message names (for the bad-rows table)."""
    marker = "problem_id="
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split(")", 1)[0]

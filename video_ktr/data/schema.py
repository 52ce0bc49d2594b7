"""The Video-R1 record schema (METHOD §5): load JSON / JSONL, validate every row, resolve media paths.

A bad row raises a ``ValueError`` naming the file, the row index, its ``problem_id`` and the field. Under
``on_error="skip"`` it is dropped instead and counted by reason in ``LoadReport.skipped`` — never replaced.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")
DATA_TYPES = ("image", "video")
REQUIRED = ("problem_id", "problem", "data_type", "problem_type", "solution", "path")
KNOWN = REQUIRED + ("options", "data_source", "process")
ANSWER_RE = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
OPTION_RE = re.compile(r"^\s*[A-Z]\s*[.:)]")
ANSWER_LETTER_RE = re.compile(r"^\(?([A-Z])\)?(?:$|[\s.:)])")    # "B", "B.", "(B)", "B. the cat"
NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*%?$")
ON_ERROR = ("raise", "skip")


class RecordError(ValueError):
    """One invalid row: ``reason`` is a short stable key (for skip counts), the message says where and why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Record:
    """One validated Video-R1 row. ``media_path`` is ``path`` resolved under the data root; ``extra`` keeps unknown
    keys (per-record media overrides such as ``nframes``/``fps``/``max_pixels`` live there)."""

    problem_id: int | str
    problem: str
    data_type: str
    problem_type: str
    options: list[str]
    solution: str
    path: str
    data_source: str
    process: str | None
    media_path: Path
    extra: dict = field(default_factory=dict)
    index: int | None = None              # row index in its data file (for error messages)
    source: Path | None = None            # the data file

    @property
    def where(self) -> str:
        """``train.json: record 7 (problem_id=42)`` — how errors name this row."""
        return f"{self.source or '?'}: record {'?' if self.index is None else self.index} (problem_id={self.problem_id})"

    @property
    def answer(self) -> str:
        """The text inside the solution's first ``<answer>…</answer>`` (stripped)."""
        m = ANSWER_RE.search(self.solution)
        assert m is not None, f"record {self.problem_id}: solution has no <answer> tag: {self.solution!r}"
        return m.group(1).strip()

    @property
    def is_video(self) -> bool:
        return self.data_type == "video"

    def as_dict(self) -> dict[str, Any]:
        """The row as it would appear in the JSON (plus ``media_path`` as a string)."""
        row = {k: getattr(self, k) for k in KNOWN}
        return {**row, **self.extra, "media_path": str(self.media_path)}


@dataclass
class LoadReport:
    """What ``load_records`` read. ``skipped``: reason → count; ``errors``: one message per skipped row."""

    records: list[Record]
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    source: Path | None = None
    root: Path | None = None

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{len(self.records)} records loaded from {self.source}, {self.num_skipped} skipped ({reasons})"

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)


def resolve_media_path(path: str, root: Path) -> Path:
    """``"./videos/x.mp4"`` under ``root`` → ``root/videos/x.mp4``. Absolute paths are kept as they are."""
    p = PureWindowsPath(path) if "\\" in path and "/" not in path else PurePosixPath(path)
    candidate = Path(*p.parts) if p.parts else Path(path)
    return candidate if candidate.is_absolute() else (root / candidate)


def contained_path(path: Path, root: Path) -> Path | None:
    """``path`` with symlinks and ``..`` resolved if it stays under ``root`` (also resolved), else None."""
    real, base = Path(path).resolve(), Path(root).resolve()
    return real if real == base or real.is_relative_to(base) else None


def _number(text: str) -> bool:
    return NUMBER_RE.match(text.replace(",", "").strip()) is not None


def _check_answer(where: str, problem_type: str, answer: str, options: list[str]) -> None:
    """The ``<answer>`` must be usable as ground truth: non-empty, an option letter for multiple choice, a number for
    numerical / regression questions."""
    if not answer:
        raise RecordError(f"{where}: field 'solution' has an empty <answer></answer>", "bad:answer")
    if problem_type == "multiple choice":
        letters = [OPTION_RE.match(o).group(0).strip()[0] for o in options]
        if len(set(letters)) != len(letters):
            raise RecordError(f"{where}: field 'options' repeats an option letter: {letters}", "bad:options")
        m = ANSWER_LETTER_RE.match(answer)
        if m is None or m.group(1) not in letters:
            raise RecordError(f"{where}: the <answer> {answer!r} is not one of the option letters {letters}",
                              "bad:answer")
    if problem_type in ("numerical", "regression") and not _number(answer):
        raise RecordError(f"{where}: the <answer> {answer!r} of a {problem_type} question is not a number",
                          "bad:answer")


def _where(file: Path | str, index: int, row: Any) -> str:
    pid = row.get("problem_id", "?") if isinstance(row, dict) else "?"
    return f"{file}: record {index} (problem_id={pid})"


def validate_row(row: Any, *, file: Path | str, index: int, root: Path, allow_outside_root: bool = False) -> Record:
    """Check one raw row and turn it into a ``Record``; raise ``RecordError`` naming file, index, id and field.

    The media path must stay under ``root`` once ``..`` and symlinks are resolved, unless ``allow_outside_root``."""
    where = _where(file, index, row)
    if not isinstance(row, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(row).__name__}", "not_an_object")
    for key in REQUIRED:
        if key not in row or row[key] is None:
            raise RecordError(f"{where}: missing required field {key!r}; Video-R1 rows need {list(REQUIRED)}",
                              f"missing:{key}")
    for key in ("problem", "solution", "path"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise RecordError(f"{where}: field {key!r} must be a non-empty string, got {row[key]!r}", f"bad:{key}")
    if not isinstance(row["problem_id"], (int, str)) or isinstance(row["problem_id"], bool):
        raise RecordError(f"{where}: field 'problem_id' must be an int or str, got {row['problem_id']!r}",
                          "bad:problem_id")
    if row["data_type"] not in DATA_TYPES:
        raise RecordError(f"{where}: field 'data_type'={row['data_type']!r} must be one of {list(DATA_TYPES)}",
                          "bad:data_type")
    if row["problem_type"] not in PROBLEM_TYPES:
        raise RecordError(f"{where}: field 'problem_type'={row['problem_type']!r} is unknown; known: "
                          f"{list(PROBLEM_TYPES)}", "bad:problem_type")
    options = row.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise RecordError(f"{where}: field 'options' must be a list of strings, got {options!r}", "bad:options")
    if row["problem_type"] == "multiple choice":
        if len(options) < 2:
            raise RecordError(f"{where}: field 'options' needs >= 2 entries ('A. text') for a multiple-choice "
                              f"question, got {options!r}", "bad:options")
        if not all(OPTION_RE.match(o) for o in options):
            raise RecordError(f"{where}: field 'options' entries must start with a letter label like 'A. ', "
                              f"got {options!r}", "bad:options")
    answer = ANSWER_RE.search(row["solution"])
    if not answer:
        raise RecordError(f"{where}: field 'solution'={row['solution']!r} has no <answer>…</answer> tag",
                          "bad:solution")
    _check_answer(where, row["problem_type"], answer.group(1).strip(), options)
    media_path = resolve_media_path(row["path"], root)
    if not allow_outside_root and contained_path(media_path, root) is None:
        raise RecordError(f"{where}: field 'path'={row['path']!r} resolves to {media_path.resolve()}, outside the "
                          f"data root {Path(root).resolve()} (after '..' and symlinks); move the media under the "
                          f"root or set data.allow_outside_root: true", "bad:path")
    process = row.get("process")
    if process is not None and not isinstance(process, str):
        raise RecordError(f"{where}: field 'process' must be a string, got {type(process).__name__}", "bad:process")
    extra = {k: v for k, v in row.items() if k not in KNOWN}
    return Record(problem_id=row["problem_id"], problem=row["problem"], data_type=row["data_type"],
                  problem_type=row["problem_type"], options=list(options), solution=row["solution"],
                  path=row["path"], data_source=str(row.get("data_source") or ""), process=process,
                  media_path=media_path, extra=extra, index=index, source=Path(file))


def read_rows(path: Path) -> list[Any]:
    """Raw rows of a ``.json`` list (or ``{"data": [...]}``) or a ``.jsonl`` file (one object per line)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl" or (not text.lstrip().startswith(("[", "{")) and "\n" in text):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    rows.append(RecordError(f"{path}: line {n} is not valid JSON ({e.msg})", "bad_json"))
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, col {e.colno}: {e.msg}); "
                         f"use a JSON list or a .jsonl file with one record per line") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def load_records(path: str | Path, root: str | Path | None = None, on_error: str = "raise", *,
                 allow_outside_root: bool = False) -> LoadReport:
    """Load and validate Video-R1 rows from ``path`` (JSON list or JSONL).

    root: folder the rows' relative ``path`` fields are resolved under (default: the JSON file's folder).
    on_error: "raise" (first bad row raises, naming file / index / problem_id / field) or "skip" (drop and count).
    allow_outside_root: accept media paths that resolve outside ``root`` (default: such rows are invalid).
    Media files are not opened here (see ``load_media`` and ``video-ktr data check``).
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r} must be one of {list(ON_ERROR)}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data file {file} does not exist")
    base = Path(root) if root is not None else file.parent
    report = LoadReport(records=[], source=file, root=base)
    for i, row in enumerate(read_rows(file)):
        try:
            if isinstance(row, RecordError):
                raise row
            report.records.append(validate_row(row, file=file, index=i, root=base,
                                               allow_outside_root=allow_outside_root))
        except RecordError as e:
            if on_error == "raise":
                raise
            report.skipped[e.reason] += 1
            report.errors.append(str(e))
    return report

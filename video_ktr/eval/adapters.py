"""Benchmark adapters: each reads its benchmark's *own released* annotation format from a local folder, validates
every row, checks that the media exist, and returns ``EvalItem``s. A bad row raises a ``ValueError`` naming the
file, the row and the field; missing videos raise one error listing how many, a few examples, and where they were
looked for (or are skipped and counted with ``on_missing="skip"``).

Folder layouts (README "Evaluation"):
  holmes    DIR/test_Video-Holmes.json, DIR/videos/<video ID>.mp4                    (Video-Holmes test, 1,837 q)
  videomme  DIR/videomme/test-*.parquet (or *.json/*.jsonl rows), DIR/data/<videoID>.mp4  (lmms-lab/Video-MME)
  mmvu      DIR/validation.json, DIR/videos/<subject>/<n>.mp4                         (yale-nlp/MMVU validation)
  videommmu DIR/<Track>/*.parquet|json|jsonl for Perception/Comprehension/Adaptation, DIR/videos/<id>.mp4
  video_r1  a Video-R1-schema eval JSON (file, or DIR with eval.json / one *.json); media under its folder
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from video_ktr.eval.items import EvalItem
from video_ktr.rewards import parse_number

HOLMES_TYPES = ("SR", "IMC", "TCI", "TA", "MHR", "PAR", "CTI")
VIDEOMMMU_TRACKS = ("Perception", "Comprehension", "Adaptation")
ON_MISSING = ("raise", "skip")


@dataclass
class BenchLoad:
    """What an adapter read: items (media present), missing media (skipped), rows left out by design, source."""

    items: list[EvalItem]
    source: Path
    missing: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        s = f"{len(self.items)} questions from {self.source}"
        if self.missing:
            s += f"; {len(self.missing)} skipped for missing media"
        for why, n in self.left_out.items():
            s += f"; {n} left out ({why})"
        return s


# ----------------------------------------------------------------------------------------------------- reading
def read_rows(path: Path) -> list[dict]:
    """Rows of a .json (list, or {"data"|"test"|…: list}), .jsonl or .parquet (needs ``pyarrow``) file."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(f"reading {path} needs pyarrow (pip install pyarrow), or convert it to JSON "
                              f"first") from None
        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise ValueError(f"{path}: expected a JSON list of questions (or one list inside an object)")
        data = lists[0]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    return data


def _field(row: dict, key: str, path: Path, i: int, kind: type | tuple = (str, int)) -> object:
    if key not in row or row[key] is None:
        raise ValueError(f"{path} row {i}: missing field {key!r} (has {sorted(row)}); is this the official file?")
    if not isinstance(row[key], kind):
        raise ValueError(f"{path} row {i}: field {key!r} should be {kind}, got {type(row[key]).__name__}")
    return row[key]


def _find_annotations(data: Path, names: tuple[str, ...], globs: tuple[str, ...], bench: str) -> Path:
    if data.is_file():
        return data
    if not data.is_dir():
        raise FileNotFoundError(f"{bench}: {data} does not exist; pass the folder holding the benchmark files")
    for name in names:
        if (data / name).is_file():
            return data / name
    found = sorted(p for g in globs for p in data.glob(g))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(f"{bench}: no annotation file in {data}: expected one of {list(names)} "
                            f"(or exactly one match of {list(globs)}, found {[p.name for p in found]})")


def _check_media(items: list[EvalItem], source: Path, bench: str, where: str, on_missing: str,
                 left_out: dict[str, int] | None = None) -> BenchLoad:
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing={on_missing!r}; choose one of {ON_MISSING}")
    missing = [str(it.media_path) for it in items if not Path(it.media_path).is_file()]
    if missing and on_missing == "raise":
        raise FileNotFoundError(
            f"{bench}: {len(missing)} of {len(items)} media files are missing (expected {where}), e.g. "
            f"{missing[:3]}; download/unpack them there, or pass on_missing='skip' (--skip-missing) to evaluate "
            f"the rest")
    keep = [it for it in items if Path(it.media_path).is_file()]
    return BenchLoad(keep, source, missing, dict(left_out or {}))


def _letter_options(options: list, path: Path, i: int) -> list[str]:
    """Options as "A. text": kept when already lettered, else lettered A, B, … in order."""
    from video_ktr.eval.extract import parse_options

    opts = [str(o) for o in options]
    try:
        parse_options(opts)
        return opts
    except ValueError:
        if len(opts) > 26:
            raise ValueError(f"{path} row {i}: {len(opts)} options, more than letters A–Z") from None
        return [f"{chr(65 + k)}. {o}" for k, o in enumerate(opts)]


# --------------------------------------------------------------------------------------------------- adapters
def load_holmes(data: Path, on_missing: str = "raise") -> BenchLoad:
    """Video-Holmes test split (``test_Video-Holmes.json``): 7 question types, options A–F, videos by video ID."""
    path = _find_annotations(Path(data), ("test_Video-Holmes.json",), ("*.json",), "holmes")
    root = path.parent
    items = []
    for i, row in enumerate(read_rows(path)):
        qid = str(_field(row, "Question ID", path, i))
        qtype = _field(row, "Question Type", path, i, str)
        if qtype not in HOLMES_TYPES:
            raise ValueError(f"{path} row {i} (Question ID {qid}): Question Type {qtype!r} is not one of "
                             f"Video-Holmes' 7 types {HOLMES_TYPES}")
        options = _field(row, "Options", path, i, dict)
        answer = str(_field(row, "Answer", path, i)).strip()
        if answer not in options:
            raise ValueError(f"{path} row {i} (Question ID {qid}): Answer {answer!r} is not an option "
                             f"{sorted(options)}")
        vid = str(_field(row, "video ID", path, i))
        items.append(EvalItem(
            id=qid, question=str(_field(row, "Question", path, i, str)),
            options=[f"{k}. {v}" for k, v in options.items()], answer=answer, problem_type="multiple choice",
            data_type="video", media_path=root / "videos" / f"{vid}.mp4", groups={"type": qtype},
            extra={"video_id": vid, "options_dict": dict(options)}))
    _unique_ids(items, path)
    return _check_media(items, path, "holmes", f"at {root}/videos/<video ID>.mp4", on_missing)


def load_videomme(data: Path, on_missing: str = "raise") -> BenchLoad:
    """VideoMME test (lmms-lab/Video-MME parquet, or the same rows as JSON/JSONL): 4 options, 3 durations."""
    data = Path(data)
    path = _find_annotations(data, ("videomme/test-00000-of-00001.parquet", "videomme.json", "videomme.jsonl"),
                             ("videomme/*.parquet", "*.parquet", "*.json", "*.jsonl"), "videomme")
    root = data if data.is_dir() else path.parent
    video_dirs = [root / "data", root / "videos"]
    items = []
    for i, row in enumerate(read_rows(path)):
        for key in ("question_id", "video_id", "duration", "domain", "sub_category", "task_type", "question",
                    "answer"):
            _field(row, key, path, i)
        options = _letter_options(list(_field(row, "options", path, i, (list, tuple))), path, i)
        stem = str(row.get("videoID") or row["video_id"])
        media = next((d / f"{stem}.mp4" for d in video_dirs if (d / f"{stem}.mp4").is_file()),
                     video_dirs[0] / f"{stem}.mp4")
        items.append(EvalItem(
            id=str(row["question_id"]), question=str(row["question"]), options=options,
            answer=str(row["answer"]).strip(), problem_type="multiple choice", data_type="video", media_path=media,
            groups={"duration": str(row["duration"]), "domain": str(row["domain"]),
                    "sub_category": str(row["sub_category"]), "task_type": str(row["task_type"])},
            extra={k: row.get(k) for k in ("video_id", "videoID", "url", "duration", "domain", "sub_category",
                                            "task_type")}))
    _unique_ids(items, path)
    return _check_media(items, path, "videomme", f"at {root}/data/<videoID>.mp4 (or videos/)", on_missing)


def load_mmvu(data: Path, on_missing: str = "raise") -> BenchLoad:
    """MMVU validation (yale-nlp/MMVU ``validation.json``): the multiple-choice subset, reported as MMVU(mc)."""
    path = _find_annotations(Path(data), ("validation.json",), ("*.json",), "mmvu")
    root = path.parent
    items, left_out = [], 0
    for i, row in enumerate(read_rows(path)):
        qtype = _field(row, "question_type", path, i, str)
        if qtype != "multiple-choice":
            left_out += 1
            continue
        choices = _field(row, "choices", path, i, dict)
        answer = str(_field(row, "answer", path, i)).strip()
        if answer not in choices:
            raise ValueError(f"{path} row {i}: answer {answer!r} is not one of the choices {sorted(choices)}")
        video = str(_field(row, "video", path, i, str))
        rel = video.split("/resolve/main/", 1)[1] if "/resolve/main/" in video else video
        meta = row.get("metadata") or {}
        groups = {"subject": str(meta.get("subject", "unknown"))}
        if "discipline" in meta:
            groups["discipline"] = str(meta["discipline"])
        items.append(EvalItem(
            id=str(_field(row, "id", path, i)), question=str(_field(row, "question", path, i, str)),
            options=[f"{k}. {v}" for k, v in choices.items()], answer=answer, problem_type="multiple choice",
            data_type="video", media_path=root / rel.lstrip("./"), groups=groups, extra={"video": video}))
    _unique_ids(items, path)
    return _check_media(items, path, "mmvu", f"at {root}/videos/<subject>/<n>.mp4", on_missing,
                        {"open-ended questions (MMVU(mc) is the multiple-choice subset)": left_out} if left_out else {})


def load_videommmu(data: Path, on_missing: str = "raise") -> BenchLoad:
    """VideoMMMU (lmms-lab/VideoMMMU): one folder (or file) per track; MMMU-style multiple-choice and open rows."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"videommmu: {data} is not a folder with {list(VIDEOMMMU_TRACKS)} sub-folders")
    items = []
    for track in VIDEOMMMU_TRACKS:
        files = sorted(p for ext in ("parquet", "json", "jsonl") for p in
                       [*(data / track).glob(f"*.{ext}"), *data.glob(f"{track}.{ext}")])
        if not files:
            raise FileNotFoundError(f"videommmu: no annotation file for track {track!r}: expected "
                                    f"{data}/{track}/*.parquet (or .json/.jsonl) or {data}/{track}.json")
        for path in files:
            for i, row in enumerate(read_rows(path)):
                qid = str(_field(row, "id", path, i))
                options = _letter_options(list(row.get("options") or []), path, i)
                answer = str(_field(row, "answer", path, i)).strip()
                qtype = str(row.get("question_type") or ("multiple-choice" if options else "open"))
                is_mc = qtype == "multiple-choice" and bool(options)
                ptype = "multiple choice" if is_mc else ("numerical" if parse_number(answer) is not None
                                                         else "free-form")
                candidates = [data / "videos" / f"{qid}.mp4", data / track / f"{qid}.mp4",
                              data / track / "videos" / f"{qid}.mp4"]
                media = next((c for c in candidates if c.is_file()), candidates[0])
                items.append(EvalItem(
                    id=qid, question=str(_field(row, "question", path, i, str)), options=options if is_mc else [],
                    answer=answer, problem_type=ptype, data_type="video", media_path=media,
                    groups={"track": track, "question_type": qtype}, extra={"track": track}))
    _unique_ids(items, data)
    return _check_media(items, data, "videommmu", f"at {data}/videos/<id>.mp4 (or <Track>/<id>.mp4)", on_missing)


def load_video_r1(data: Path, on_missing: str = "raise") -> BenchLoad:
    """A Video-R1-schema eval JSON (mvbench, tempcompass, videomme, videommmu, vsibench, mmvu, or ours)."""
    from video_ktr.data import load_records

    path = _find_annotations(Path(data), ("eval.json", "eval.jsonl"), ("*.json", "*.jsonl"), "video_r1")
    report = load_records(path, root=path.parent, on_error="raise")
    items = [EvalItem(
        id=str(r.problem_id), question=r.problem, options=list(r.options), answer=r.answer,
        problem_type=r.problem_type, data_type=r.data_type, media_path=Path(r.media_path),
        groups={"problem_type": r.problem_type, "data_source": r.data_source or "unknown"},
        extra={"data_source": r.data_source}) for r in report.records]
    _unique_ids(items, path)
    return _check_media(items, path, "video_r1", f"under {path.parent} (each row's 'path')", on_missing)


def _unique_ids(items: list[EvalItem], path: Path) -> None:
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise ValueError(f"{path}: question id {it.id!r} occurs twice; ids must be unique to resume runs")
        seen.add(it.id)

"""Benchmark adapters: each reads its benchmark's files *as released* from a local folder, validates every row,
checks that the media exist, and returns ``EvalItem``s whose ids are unique by construction. A bad row raises a
``ValueError`` naming the file, the row and the field; missing videos raise one error listing how many, a few
examples, and where they were looked for (or are skipped and counted with ``on_missing="skip"``);
``check_media=False`` reads and validates the annotations only (``video-ktr eval --no-media``).

Folder layouts (README "Evaluation"):
  holmes    DIR/test_Video-Holmes.json, DIR/videos/<video ID>.mp4       id "<video ID>/<Question ID>"
  videomme  DIR/videomme/test-*.parquet (or *.json/*.jsonl rows), DIR/data/<videoID>.mp4  (lmms-lab/Video-MME)
  mmvu      DIR/validation.json, DIR/videos/<subject>/<n>.mp4            (yale-nlp/MMVU validation)
  videommmu DIR/{perception,comprehension,adaptation}_video.json ({"<Track>": {"0": row, …}}) or the lmms-lab
            parquet rows DIR/<Track>/*.parquet; videos <id>.mp4 anywhere under DIR    id "<Track>/<id>"
  video_r1  a Video-R1-schema eval JSON (file, or DIR with eval.json / one *.json); media under its folder;
            ``data_type: "frame"`` rows are folders of frames, read as videos (``video_ktr.eval.media``)
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
    warnings: dict[str, int] = field(default_factory=dict)   # rows kept but worth a count (e.g. one option)

    def summary(self) -> str:
        s = f"{len(self.items)} questions from {self.source}"
        if self.missing:
            s += f"; {len(self.missing)} skipped for missing media"
        for why, n in self.left_out.items():
            s += f"; {n} left out ({why})"
        for why, n in self.warnings.items():
            s += f"; warning: {n} {why}"
        return s


# ----------------------------------------------------------------------------------------------------- reading
def read_rows(path: Path) -> list[dict]:
    """Rows of a .json, .jsonl or .parquet (needs ``pyarrow``, the ``eval`` extra) file. JSON may be a list of
    rows, one list inside an object ({"data": [...]}), or a dict of rows keyed by index — also nested one level,
    as VideoMMMU releases it: ``{"Perception": {"0": row, "1": row, …}}``."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(f"reading {path} needs pyarrow: pip install -e '.[eval]' (or pip install pyarrow)"
                              ) from None
        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), (dict, list)):
        data = next(iter(data.values()))                       # {"Perception": {...}} / {"data": [...]}
    if isinstance(data, dict):
        if data and all(isinstance(v, dict) for v in data.values()):
            data = list(data.values())                         # {"0": row, "1": row, …}
        else:
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise ValueError(f"{path}: expected a JSON list of questions, one list inside an object, or a "
                                 f"dict of rows keyed by index")
            data = lists[0]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path}: expected JSON rows (objects), got {type(data).__name__}")
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
                 left_out: dict[str, int] | None = None, check_media: bool = True,
                 warnings: dict[str, int] | None = None) -> BenchLoad:
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing={on_missing!r}; choose one of {ON_MISSING}")
    _unique_ids(items, source)
    if not check_media:
        return BenchLoad(items, source, [], dict(left_out or {}), dict(warnings or {}))
    present = [Path(it.media_path).exists() for it in items]     # a file, or a folder of frames
    missing = [str(it.media_path) for it, ok in zip(items, present) if not ok]
    if missing and on_missing == "raise":
        raise FileNotFoundError(
            f"{bench}: {len(missing)} of {len(items)} media files are missing (expected {where}), e.g. "
            f"{missing[:3]}; download/unpack them there, or pass on_missing='skip' (--skip-missing) to evaluate "
            f"the rest")
    keep = [it for it, ok in zip(items, present) if ok]
    return BenchLoad(keep, source, missing, dict(left_out or {}), dict(warnings or {}))


def _letter_options(options: list, path: Path, i: int) -> list[str]:
    """Options as "A. text": kept when already lettered, else lettered A, B, … in order."""
    from video_ktr.eval.extract import parse_options

    opts = [str(o) for o in options]
    try:
        if len(parse_options(opts)) == len(opts):
            return opts
    except ValueError:
        pass
    if len(opts) > 26:
        raise ValueError(f"{path} row {i}: {len(opts)} options, more than letters A–Z")
    return [f"{chr(65 + k)}. {o}" for k, o in enumerate(opts)]


# --------------------------------------------------------------------------------------------------- adapters
def load_holmes(data: Path, on_missing: str = "raise", check_media: bool = True) -> BenchLoad:
    """Video-Holmes test split (``test_Video-Holmes.json``): 7 question types, options A–F, videos by video ID.
    Question IDs repeat across films, so an item's id is "<video ID>/<Question ID>"."""
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
            id=f"{vid}/{qid}", question=str(_field(row, "Question", path, i, str)),
            options=[f"{k}. {v}" for k, v in options.items()], answer=answer, problem_type="multiple choice",
            data_type="video", media_path=root / "videos" / f"{vid}.mp4", groups={"type": qtype},
            extra={"video_id": vid, "question_id": qid, "options_dict": dict(options)}))
    return _check_media(items, path, "holmes", f"at {root}/videos/<video ID>.mp4", on_missing,
                        check_media=check_media)


def load_videomme(data: Path, on_missing: str = "raise", check_media: bool = True) -> BenchLoad:
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
    return _check_media(items, path, "videomme", f"at {root}/data/<videoID>.mp4 (or videos/)", on_missing,
                        check_media=check_media)


def load_mmvu(data: Path, on_missing: str = "raise", check_media: bool = True) -> BenchLoad:
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
    return _check_media(items, path, "mmvu", f"at {root}/videos/<subject>/<n>.mp4", on_missing,
                        {"open-ended questions (MMVU(mc) is the multiple-choice subset)": left_out} if left_out
                        else {}, check_media=check_media)


def _unique_ids(items: list[EvalItem], path: Path) -> None:
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise ValueError(f"{path}: question id {it.id!r} occurs twice; ids must be unique to resume runs")
        seen.add(it.id)

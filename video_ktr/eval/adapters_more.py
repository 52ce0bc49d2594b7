"""Adapters for the releases with several files or several media kinds: VideoMMMU (three tracks, JSON or parquet)
and Video-R1-schema eval JSONs (videos, images and MVBench's frame folders). Shared helpers: ``adapters``."""
from __future__ import annotations

import re
from pathlib import Path

from video_ktr.eval.adapters import BenchLoad, _check_media, _field, _find_annotations, read_rows
from video_ktr.eval.items import EvalItem
from video_ktr.rewards import parse_number

VIDEOMMMU_TRACKS = ("Perception", "Comprehension", "Adaptation")
VIDEO_R1_TYPES = ("multiple choice", "numerical", "regression", "free-form", "OCR")
SINGLE_OPTION = "single-option multiple-choice rows (scored as Video-R1 does: exact match with that letter)"


def _videommmu_files(data: Path, track: str) -> list[Path]:
    """The release's ``<track>_video.json``, or lmms-lab's ``<Track>/*.parquet`` (or .json/.jsonl) rows."""
    files = [data / f"{track.lower()}_video.json", data / f"{track}.json", data / f"{track}.parquet"]
    files = [f for f in files if f.is_file()]
    files += sorted(p for ext in ("parquet", "json", "jsonl") for p in (data / track).glob(f"*.{ext}"))
    return files


def _videommmu_options(options: list[str]) -> list[str]:
    """Prompt lines as lmms-eval writes them: "A. text" by position, unless every option already starts "A.";
    a text that begins with another letter ("A: …") keeps it ("A. A: …") — the letter is the position's."""
    letters = [chr(65 + k) for k in range(len(options))]
    if all(o.startswith(f"{L}.") for o, L in zip(options, letters)):
        return list(options)
    return [f"{L}. {o}" for L, o in zip(letters, options)]


def _subject(rid: str) -> dict[str, str]:
    """lmms-eval reports VideoMMMU per subject, the middle of ids like "validation_Art_Theory_12"."""
    m = re.match(r"[^_]+_(.+)_\d+$", rid)
    return {"subject": m.group(1)} if m else {}


def load_videommmu(data: Path, on_missing: str = "raise", check_media: bool = True) -> BenchLoad:
    """VideoMMMU (900 questions: Perception, Comprehension, Adaptation). Row ids repeat across tracks, so an
    item's id is "<Track>/<id>". ``question_type`` "multiple-choice" is multiple choice; anything else (null
    included) is open, as the official scorer treats it. Videos are found by ``<id>.mp4`` anywhere under DIR."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"videommmu: {data} is not a folder with the track files "
                                f"(perception_video.json, … or {list(VIDEOMMMU_TRACKS)} sub-folders)")
    videos = {p.stem: p for p in data.rglob("*.mp4")} if check_media else {}
    items, open_null = [], 0
    for track in VIDEOMMMU_TRACKS:
        files = _videommmu_files(data, track)
        if not files:
            raise FileNotFoundError(f"videommmu: no annotation file for track {track!r}: expected "
                                    f"{data}/{track.lower()}_video.json or {data}/{track}/*.parquet")
        for path in files:
            for i, row in enumerate(read_rows(path)):
                rid = str(_field(row, "id", path, i))
                answer = _field(row, "answer", path, i, (str, int, float, list))
                qtype = row.get("question_type")
                raw = [str(o) for o in (row.get("options") or [])]
                is_mc = qtype == "multiple-choice"
                if is_mc and not raw:
                    raise ValueError(f"{path} row {i} (id {rid}): question_type 'multiple-choice' without options")
                if qtype is None:
                    open_null += 1
                gold = [str(a) for a in answer] if isinstance(answer, list) else str(answer).strip()
                first = gold[0] if isinstance(gold, list) and gold else gold
                ptype = "multiple choice" if is_mc else ("numerical" if parse_number(str(first)) is not None
                                                         else "free-form")
                items.append(EvalItem(
                    id=f"{track}/{rid}", question=str(_field(row, "question", path, i, str)),
                    options=_videommmu_options(raw) if is_mc else [], answer=str(first), problem_type=ptype,
                    data_type="video", media_path=videos.get(rid, data / "videos" / f"{rid}.mp4"),
                    groups={"track": track, "question_type": str(qtype or "open"), **_subject(rid)},
                    extra={"track": track, "row_id": rid, "question_type": qtype, "raw_options": raw,
                           **({"answers": gold} if isinstance(gold, list) else {})}))
    warnings = {"rows with question_type null (scored as open questions, as the official code does)": open_null}
    return _check_media(items, data, "videommmu", f"as <id>.mp4 under {data}", on_missing,
                        check_media=check_media, warnings={k: v for k, v in warnings.items() if v})


def load_video_r1(data: Path, on_missing: str = "raise", check_media: bool = True) -> BenchLoad:
    """A Video-R1-schema eval JSON (eval_mvbench/tempcompass/videomme/videommmu/vsibench/mmvu.json, or ours).

    ``data_type`` "frame" rows (MVBench: a folder of frames) are read as videos from that folder. Single-option
    multiple-choice rows are kept and counted (``warnings``). A repeated ``problem_id`` gets "@row<i>" appended
    so ids stay unique; the row's own id is kept in ``extra``."""
    from video_ktr.rewards import solution_answer

    path = _find_annotations(Path(data), ("eval.json", "eval.jsonl"), ("*.json", "*.jsonl"), "video_r1")
    root = path.parent
    items, seen, single = [], set(), 0
    for i, row in enumerate(read_rows(path)):
        pid = str(_field(row, "problem_id", path, i))
        ptype = _field(row, "problem_type", path, i, str)
        if ptype not in VIDEO_R1_TYPES:
            raise ValueError(f"{path} row {i}: problem_type {ptype!r} is not one of {VIDEO_R1_TYPES}")
        dtype = _field(row, "data_type", path, i, str)
        if dtype not in ("video", "image", "frame"):
            raise ValueError(f"{path} row {i}: data_type {dtype!r} must be video, image or frame")
        options = [str(o) for o in (row.get("options") or [])]
        if ptype == "multiple choice" and not options:
            raise ValueError(f"{path} row {i}: a multiple-choice row without options")
        single += ptype == "multiple choice" and len(options) == 1
        rel = str(_field(row, "path", path, i, str))
        media = Path(rel) if Path(rel).is_absolute() else root / rel
        iid = pid if pid not in seen else f"{pid}@row{i}"
        seen.add(iid)
        source = str(row.get("data_source") or "unknown")
        items.append(EvalItem(
            id=iid, question=str(_field(row, "problem", path, i, str)), options=options,
            answer=solution_answer(str(_field(row, "solution", path, i, str))), problem_type=ptype,
            data_type="image" if dtype == "image" else "video", media_path=media,
            groups={"problem_type": ptype, "data_source": source},
            extra={"data_source": source, "problem_id": pid, "frames_dir": dtype == "frame"}))
    return _check_media(items, path, "video_r1", f"under {root} (each row's 'path')", on_missing,
                        check_media=check_media, warnings={SINGLE_OPTION: single} if single else {})

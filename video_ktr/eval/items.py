"""One evaluation question, whatever benchmark it came from: what the adapters produce and the runner consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class EvalItem:
    """A benchmark question normalised to the Video-R1 vocabulary (METHOD §5).

    id: unique within its benchmark by construction (the official question id, prefixed where the release
        repeats ids: Holmes "<video ID>/<Question ID>", VideoMMMU "<Track>/<id>").
    options: "A. text" lines ([] for open questions). answer: gold option letter, number or text.
    problem_type: a Video-R1 problem type ("multiple choice", "numerical", "free-form", "regression", "OCR").
    groups: reporting dimension → value, exactly as the benchmark reports (e.g. {"type": "TCI"},
        {"duration": "short", "domain": …, "task_type": …}); the summary breaks accuracy down by each key.
    extra: benchmark fields the scorers/exports need (VideoMME's video_id; VideoMMMU's raw question_type and
        options as released, "answers" for a gold list; "frames_dir" for a Video-R1 row that is a frame folder).
    """

    id: str
    question: str
    options: list[str]
    answer: str
    problem_type: str
    data_type: str
    media_path: Path
    groups: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self, source: str = "eval"):
        """This item as a ``video_ktr.data.Record`` (what the data stage's prompt / media / encode API takes)."""
        from video_ktr.data import Record

        return Record(problem_id=self.id, problem=self.question, data_type=self.data_type,
                      problem_type=self.problem_type, options=list(self.options),
                      solution=f"<answer>{self.answer}</answer>", path=str(self.media_path), data_source=source,
                      process=None, media_path=Path(self.media_path), extra={})

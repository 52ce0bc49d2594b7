"""User-turn prompts (registry ``PROMPTS``): ``template(record) -> str``. One chat turn: the media, then the text.

* ``reasoning`` — the reference training/eval prompt (METHOD §4): question, "Options:" block for multiple choice,
  an instruction to reason like a person thinking aloud inside <think></think>, then a per-type answer format.
* ``video_holmes`` — Video-Holmes' official prompt (METHOD §6), verbatim.
* ``direct`` — question + options + the type's answer format, without asking for reasoning (baselines).

Anywhere a template name is accepted (``data.template``, ``video-ktr eval --template``), a path to a UTF-8 text
file works too: the file is a ``str.format`` string over the fields of ``TEMPLATE_FIELDS`` (e.g. the prompt a
published checkpoint was trained with: ``{question}\nThink it through …{answer_format}``).
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Callable

from video_ktr.registry import Registry

PromptTemplate = Callable[..., str]
PROMPTS: Registry[PromptTemplate] = Registry("prompt template")

THINK_INSTRUCTION = (
    "Please think about this question the way a person would when pondering it carefully. Reason through it as an "
    "internal monologue, using natural expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see' or 'let's "
    "break it down'. Reflect on your steps and verify them before you settle on an answer. Put your full reasoning "
    "between the <think> </think> tags, then give your final answer between the <answer> </answer> tags."
)

# What goes inside <answer> for each problem type (keys = schema.PROBLEM_TYPES).
ANSWER_FORMATS = {
    "multiple choice": "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the "
                       "<answer> </answer> tags.",
    "numerical": "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": "Please transcribe the text from the image/video clearly and provide your text answer within the "
           "<answer> </answer> tags.",
    "free-form": "Please provide your text answer within the <answer> </answer> tags.",
    "regression": "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

HOLMES_PROMPT = (
    "Based on the given video, reason and answer the single-choice question. Provide your reasoning between the "
    "<think> and </think> tags, and then give your final answer between the <answer> and </answer> tags. "
    "The question is: {question}. The options are: {options}. Your answer:"
)


def question_with_options(record) -> str:
    """The question, plus an ``Options:`` block (one "A. …" line each) for multiple-choice records."""
    if record.problem_type == "multiple choice" and record.options:
        return record.problem + "\nOptions:\n" + "\n".join(record.options)
    return record.problem


def answer_format(problem_type: str) -> str:
    try:
        return ANSWER_FORMATS[problem_type]
    except KeyError:
        raise KeyError(f"no answer format for problem_type {problem_type!r}; known: {sorted(ANSWER_FORMATS)}") from None


def options_as_dict(options: list[str]) -> dict[str, str]:
    """["A. red", "B. blue"] → {"A": "red", "B": "blue"} (Video-Holmes' option format)."""
    out = {}
    for opt in options:
        letter, _, text = opt.partition(".")
        out[letter.strip()] = text.strip()
    return out


@PROMPTS.register("reasoning")
def reasoning_prompt(record) -> str:
    return f"{question_with_options(record)}\n{THINK_INSTRUCTION}\n\n{answer_format(record.problem_type)}"


@PROMPTS.register("direct")
def direct_prompt(record) -> str:
    return f"{question_with_options(record)}\n{answer_format(record.problem_type)}"


@PROMPTS.register("video_holmes")
def video_holmes_prompt(record) -> str:
    """Options written as the official script writes them: "A: text, B: text, …"."""
    options = ", ".join(f"{k}: {v}" for k, v in options_as_dict(record.options).items())
    return HOLMES_PROMPT.format(question=record.problem, options=options)


# Fields a template file may use ({name}); literal braces are written {{ and }}.
TEMPLATE_FIELDS = {
    "question": "the question, plus an 'Options:' block (one 'A. …' line each) for multiple choice",
    "problem": "the question alone",
    "options": "the option lines joined by newlines ('' when there are none)",
    "answer_format": "the problem type's answer instruction (ANSWER_FORMATS)",
    "think_instruction": "the reasoning template's think-aloud instruction",
    "problem_type": "multiple choice | numerical | OCR | free-form | regression",
}


class FileTemplate:
    """A prompt template read from a text file: ``str.format`` over ``TEMPLATE_FIELDS``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"prompt template file {self.path}: cannot read it as UTF-8 text ({e})") from None
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None}
        except ValueError as e:
            raise ValueError(f"prompt template file {self.path}: {e} (write literal braces as {{{{ and }}}})") from None
        unknown = sorted(fields - set(TEMPLATE_FIELDS))
        if unknown:
            raise ValueError(f"prompt template file {self.path} uses unknown field(s) {unknown}; known: "
                             f"{sorted(TEMPLATE_FIELDS)}")

    def __call__(self, record) -> str:
        return self.text.format(question=question_with_options(record), problem=record.problem,
                                options="\n".join(record.options or []), problem_type=record.problem_type,
                                answer_format=answer_format(record.problem_type), think_instruction=THINK_INSTRUCTION)


@lru_cache(maxsize=32)
def _file_template(path: str, mtime_ns: int) -> FileTemplate:
    return FileTemplate(path)


def prompt_template(template: str) -> PromptTemplate:
    """A registered template name (``PROMPTS``) or the path of a template file; a clear error otherwise."""
    if template in PROMPTS:
        return PROMPTS.get(template)
    p = Path(template)
    if p.is_file():
        return _file_template(str(p.resolve()), p.stat().st_mtime_ns)
    raise KeyError(f"unknown prompt template {template!r}: neither a registered name {PROMPTS.names()} nor an existing "
                   f"file (a text file with {{question}}, {{answer_format}}, … fields)")


def build_prompt(record, template: str = "reasoning") -> str:
    """The user-turn text for ``record`` under ``template`` (a registered name or a template file path)."""
    return prompt_template(template)(record)


def build_messages(record, template: str = "reasoning") -> list[dict]:
    """One user message: the media placeholder ({"type": "video"|"image"}) then the prompt text.

    The pixels are passed to the processor separately (``encode_prompts``); the default system prompt comes from
    the model's chat template.
    """
    return [{"role": "user", "content": [{"type": record.data_type},
                                         {"type": "text", "text": build_prompt(record, template)}]}]

"""User-turn prompts (registry ``PROMPTS``): ``template(record) -> str``. One chat turn: the media, then the text.

* ``reasoning`` — the reference training/eval prompt (METHOD §4): question, "Options:" block for multiple choice,
  an instruction to reason like a person thinking aloud inside <think></think>, then a per-type answer format.
* ``video_holmes`` — Video-Holmes' official prompt (METHOD §6), verbatim.
* ``direct`` — question + options + the type's answer format, without asking for reasoning (baselines).
"""
from __future__ import annotations

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


def build_prompt(record, template: str = "reasoning") -> str:
    """The user-turn text for ``record`` under the registered ``template``."""
    return PROMPTS.get(template)(record)


def build_messages(record, template: str = "reasoning") -> list[dict]:
    """One user message: the media placeholder ({"type": "video"|"image"}) then the prompt text.

    The pixels are passed to the processor separately (``encode_prompts``); the default system prompt comes from
    the model's chat template.
    """
    return [{"role": "user", "content": [{"type": record.data_type},
                                         {"type": "text", "text": build_prompt(record, template)}]}]

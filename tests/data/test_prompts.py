from pathlib import Path

import pytest

from video_ktr.data import PROBLEM_TYPES, PROMPTS, Record, build_messages, build_prompt
from video_ktr.data.prompts import ANSWER_FORMATS, HOLMES_PROMPT, THINK_INSTRUCTION


def make(problem_type: str, data_type: str = "video") -> Record:
    options = ["A. red", "B. blue", "C. green"] if problem_type == "multiple choice" else []
    return Record(problem_id=1, problem="What happens?", data_type=data_type, problem_type=problem_type,
                  options=options, solution="<answer>A</answer>", path="./v.mp4", data_source="unit", process=None,
                  media_path=Path("v.mp4"))


SUFFIX_WORDS = {"multiple choice": "single option letter", "numerical": "numerical value",
                "regression": "numerical value", "OCR": "transcribe", "free-form": "your text answer"}


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_reasoning_prompt_per_type(problem_type):
    text = build_prompt(make(problem_type))
    assert text.startswith("What happens?")
    assert THINK_INSTRUCTION in text and text.endswith(ANSWER_FORMATS[problem_type])
    assert SUFFIX_WORDS[problem_type] in text and "<answer> </answer>" in text
    for phrase in ("let me think", "wait", "Hmm", "oh, I see", "let's break it down", "<think> </think>"):
        assert phrase in text
    has_options = "\nOptions:\nA. red\nB. blue\nC. green\n" in text
    assert has_options == (problem_type == "multiple choice")


def test_video_holmes_prompt_is_official():
    text = build_prompt(make("multiple choice"), "video_holmes")
    # the whole prompt, character for character as Video-Holmes' evaluate.py builds it (options "A: text, …")
    assert text == ("Based on the given video, reason and answer the single-choice question. Provide your "
                    "reasoning between the <think> and </think> tags, and then give your final answer between the "
                    "<answer> and </answer> tags. The question is: What happens?. The options are: A: red, "
                    "B: blue, C: green. Your answer:")
    assert text == HOLMES_PROMPT.format(question="What happens?", options="A: red, B: blue, C: green")


@pytest.mark.parametrize("name", PROMPTS.names())
def test_every_template_builds_messages(name):
    for data_type in ("video", "image"):
        msgs = build_messages(make("multiple choice", data_type), name)
        assert msgs == [{"role": "user", "content": [{"type": data_type},
                                                     {"type": "text", "text": build_prompt(make("multiple choice"),
                                                                                           name)}]}]


def test_unknown_template():
    with pytest.raises(KeyError, match="unknown prompt template 'cot'"):
        build_prompt(make("numerical"), "cot")
    with pytest.raises(KeyError):
        PROMPTS.add("reasoning", lambda r: "")


def test_template_file_everywhere_a_name_is_accepted(tmp_path):
    from video_ktr.config import load_config

    f = tmp_path / "r1.txt"
    f.write_text("{question}\nThink first. {{braces}} stay.{answer_format}")
    rec = make("multiple choice")
    text = build_prompt(rec, str(f))
    assert text == ("What happens?\nOptions:\nA. red\nB. blue\nC. green\nThink first. {braces} stay."
                    + ANSWER_FORMATS["multiple choice"])
    assert build_messages(rec, str(f))[0]["content"][1]["text"] == text
    f2 = tmp_path / "fields.txt"
    f2.write_text("{problem}|{options}|{problem_type}|{think_instruction}")
    assert build_prompt(rec, str(f2)) == f"What happens?|A. red\nB. blue\nC. green|multiple choice|{THINK_INSTRUCTION}"
    assert load_config(None, [f"data.template={f}"]).data.template == str(f)
    bad = tmp_path / "bad.txt"
    bad.write_text("{question} {solution}")
    with pytest.raises(ValueError, match=r"bad.txt uses unknown field\(s\) \['solution'\]"):
        build_prompt(rec, str(bad))
    with pytest.raises(KeyError, match="unknown prompt template .no_such_template.: neither a registered name"):
        build_prompt(rec, "no_such_template")
    with pytest.raises(ValueError, match="data.template='no_such_template' is neither a registered template nor a"):
        load_config(None, ["data.template=no_such_template"])

"""Synthetic video-reasoning tasks in the Video-R1 schema, deterministic by seed.

Every task is answerable only from the pixels; the ``order`` tasks only from the frame *order* (each frame alone,
or the frames as an unordered set, carry no answer), so visual- and temporal-aware token scores mean something:

================  ==============  =====================  ===============================================
task              data_type       problem_type           needs
================  ==============  =====================  ===============================================
first_colour      video           multiple choice        order (two colours, durations varied)
motion            video           multiple choice        order (a square moving left/right/up/down)
flash_count       video           numerical              order-free counting of on/off blocks
static_colour     video           multiple choice        vision, not order (same square in every frame)
image_colour      image           multiple choice        vision
================  ==============  =====================  ===============================================

Frames are drawn in blocks of 2 frames so that any uniform subsampling to ≥ half the frames keeps every event.
``build_toy_data(out_dir)`` writes ``videos/``, ``images/``, ``train.json``, ``eval.json`` (Video-R1 schema, with a
``process`` chain of thought for CoT-SFT) and ``holmes/test_Video-Holmes.json`` + ``holmes/videos/`` (the eval
video items in Video-Holmes' release format).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from video_ktr.registry import Registry
from video_ktr.toy.videos import COLOURS, blank_frames, draw_square, write_mp4, write_png

LETTERS = "ABCDEF"
TOY_FPS = 4  # frames per second of the written clips (16 frames = 4 s; the 2-fps default samples 8 of them)


@dataclass
class ToyItem:
    """One generated question: pixels + text. ``frames`` is (F, H, W, 3) for videos, (H, W, 3) for images."""

    frames: np.ndarray
    data_type: str
    problem_type: str
    problem: str
    options: list[str]
    answer: str
    process: str
    holmes_type: str = "TCI"
    meta: dict = field(default_factory=dict)


TASKS: Registry = Registry("toy task")


def _multiple_choice(rng: np.random.Generator, correct: str, pool: list[str], k: int) -> tuple[list[str], str]:
    """Shuffle ``correct`` among k-1 distractors from ``pool``; return ("A. x" options, answer letter).

    k = 0: every value of ``pool`` as an option, in the pool's fixed order (a fixed palette: letter ↔ value).
    """
    if k == 0:
        chosen = list(dict.fromkeys(pool))
    else:
        distractors = [c for c in pool if c != correct]
        chosen = list(rng.choice(distractors, size=k - 1, replace=False)) + [correct]
        rng.shuffle(chosen)
    letter = LETTERS[chosen.index(correct)]
    return [f"{LETTERS[i]}. {c}" for i, c in enumerate(chosen)], letter


def _blocks(num_frames: int) -> int:
    return num_frames // 2


@TASKS.register("first_colour")
def first_colour(rng: np.random.Generator, num_frames: int, size: int, num_options: int = 4,
                palette: list[str] | None = None) -> ToyItem:
    palette = list(COLOURS) if palette is None else palette
    first, second = rng.choice(palette, size=2, replace=False)
    nb = _blocks(num_frames)
    switch = int(rng.integers(1, nb))  # blocks [0, switch) show `first`, [switch, nb) show `second`
    frames = blank_frames(num_frames, size)
    side = size // 3
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    for f in range(num_frames):
        draw_square(frames[f], first if f // 2 < switch else second, x, y, side)
    pool = palette if num_options == 0 else [str(first), str(second)] + palette
    options, letter = _multiple_choice(rng, str(first), pool, num_options)
    # keep both shown colours among the options, so the question is about order, not presence
    if f"{LETTERS[0]}. {second}" not in options and not any(o.endswith(f". {second}") for o in options):
        i = next(i for i, o in enumerate(options) if not o.endswith(f". {first}"))
        options[i] = f"{LETTERS[i]}. {second}"
    process = (f"<think>Let me think. The video starts with a {first} square. Later the square turns {second}. "
               f"So the colour that appears first is {first}.</think>")
    return ToyItem(frames, "video", "multiple choice", "Which colour appears first in the video?", options, letter,
                   process, "TCI", {"first": str(first), "second": str(second), "switch_frame": 2 * switch})


DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}


@TASKS.register("motion")
def motion(rng: np.random.Generator, num_frames: int, size: int, num_options: int = 4,
                palette: list[str] | None = None) -> ToyItem:
    palette = list(COLOURS) if palette is None else palette
    direction = str(rng.choice(list(DIRECTIONS)))
    dx, dy = DIRECTIONS[direction]
    colour = str(rng.choice(palette))
    side = size // 4
    nb = _blocks(num_frames)
    span = size - side
    frames = blank_frames(num_frames, size)
    cross = int(rng.integers(0, span))
    for f in range(num_frames):
        t = (f // 2) / max(nb - 1, 1)
        along = int(round(t * span)) if (dx + dy) > 0 else int(round((1 - t) * span))
        x, y = (along, cross) if dx else (cross, along)
        draw_square(frames[f], colour, x, y, side)
    options, letter = _multiple_choice(rng, direction, list(DIRECTIONS), num_options)
    process = (f"<think>Let me think. The {colour} square changes position from frame to frame. "
               f"Comparing the first and last frames, it moves {direction}.</think>")
    return ToyItem(frames, "video", "multiple choice", "In which direction does the square move?", options, letter,
                   process, "TA", {"direction": direction, "colour": colour})


@TASKS.register("flash_count")
def flash_count(rng: np.random.Generator, num_frames: int, size: int, num_options: int = 4,
                palette: list[str] | None = None) -> ToyItem:
    palette = list(COLOURS) if palette is None else palette
    nb = _blocks(num_frames)
    max_flashes = max(1, nb // 2)
    n = int(rng.integers(1, max_flashes + 1))
    on_blocks = sorted(rng.choice(np.arange(0, nb, 2), size=n, replace=False).tolist())  # never adjacent
    colour = str(rng.choice(palette))
    side = size // 3
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    frames = blank_frames(num_frames, size)
    for f in range(num_frames):
        if f // 2 in on_blocks:
            draw_square(frames[f], colour, x, y, side)
    process = (f"<think>Let me count. The {colour} square lights up, disappears, and lights up again. "
               f"I count {n} flashes in total.</think>")
    return ToyItem(frames, "video", "numerical", "How many times does the square flash?", [], str(n), process,
                   "MHR", {"flashes": n, "on_frames": [2 * b for b in on_blocks]})


@TASKS.register("static_colour")
def static_colour(rng: np.random.Generator, num_frames: int, size: int, num_options: int = 4,
                palette: list[str] | None = None) -> ToyItem:
    palette = list(COLOURS) if palette is None else palette
    colour = str(rng.choice(palette))
    side = size // 3
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    frames = blank_frames(num_frames, size)
    for f in range(num_frames):
        draw_square(frames[f], colour, x, y, side)
    options, letter = _multiple_choice(rng, colour, palette, num_options)
    process = f"<think>Let me look. The square stays in place for the whole video and it is {colour}.</think>"
    return ToyItem(frames, "video", "multiple choice", "What colour is the square in the video?", options, letter,
                   process, "SR", {"colour": colour})


@TASKS.register("image_colour")
def image_colour(rng: np.random.Generator, num_frames: int, size: int, num_options: int = 4,
                palette: list[str] | None = None) -> ToyItem:
    palette = list(COLOURS) if palette is None else palette
    colour = str(rng.choice(palette))
    side = size // 3
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    frame = blank_frames(1, size)[0]
    draw_square(frame, colour, x, y, side)
    options, letter = _multiple_choice(rng, colour, palette, num_options)
    process = f"<think>Let me look at the image. There is one square and it is {colour}.</think>"
    return ToyItem(frame, "image", "multiple choice", "What colour is the square in the image?", options, letter,
                   process, "SR", {"colour": colour})


# cot="short": a one-fact chain of thought per task (≈ 10 tokens with the answer), built from the item's meta — the
# CPU learning setting (README "RL that learns on CPU"): short completions keep the reward on few tokens.
SHORT_COT = {
    "first_colour": lambda m: f"<think>{m['first']} first.</think>",
    "motion": lambda m: f"<think>{m['direction']}.</think>",
    "flash_count": lambda m: f"<think>{m['flashes']} flashes.</think>",
    "static_colour": lambda m: f"<think>{m['colour']}.</think>",
    "image_colour": lambda m: f"<think>{m['colour']}.</think>",
}
COT_STYLES = ("full", "short")

# Mix of tasks in a split (weights): mostly video, a few image items, as in Video-R1 data.
DEFAULT_MIX = {"first_colour": 3, "motion": 2, "flash_count": 2, "static_colour": 2, "image_colour": 1}


def tokenizer_corpus() -> list[str]:
    """Text the toy BPE is trained on: questions, options, chains of thought, answer tags, prompt template words."""
    rng = np.random.default_rng(1234)
    lines = []
    for name in TASKS:
        for _ in range(20):
            item = TASKS.get(name)(rng, 8, 32)
            lines += [item.problem, "\n".join(item.options), item.process, f"<answer>{item.answer}</answer>"]
    lines += [
        "You are a helpful assistant.",
        "Please think about this question as if you were a human pondering deeply. Engage in an internal dialogue "
        "using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', etc, or other "
        "natural language thought expressions. It's encouraged to include self-reflection or verification in the "
        "reasoning process. Provide your detailed reasoning between the <think> </think> tags, and then give your "
        "final answer between the <answer> </answer> tags.",
        "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.",
        "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
        "Please transcribe text from the image/video clearly and provide your text answer within the <answer> "
        "</answer> tags.", "Please provide your text answer within the <answer> </answer> tags.", "Options:",
        "Based on the given video, reason and answer the single-choice question. The question is: The options are:",
        "Your answer: The best answer is 0 1 2 3 4 5 6 7 8 9 10 3.14 42",
    ]
    return lines * 4


def _record(item: ToyItem, pid: int, rel_path: str, task: str) -> dict:
    return {
        "problem_id": pid, "problem": item.problem, "data_type": item.data_type, "problem_type": item.problem_type,
        "options": item.options, "process": item.process, "solution": f"<answer>{item.answer}</answer>",
        "path": rel_path, "data_source": f"toy/{task}", "task": task, "meta": item.meta,
    }


def _validate_args(n: int, n_eval: int, frames: int, size: int, num_options: int, cot: str = "full",
                   colours: int = len(COLOURS)) -> None:
    if not 2 <= colours <= len(COLOURS):
        raise ValueError(f"colours={colours}: the palette needs 2 to {len(COLOURS)} colours")
    if num_options > colours:
        raise ValueError(f"num_options={num_options} > colours={colours}: not enough colours for the options")
    if cot not in COT_STYLES:
        raise ValueError(f"cot={cot!r}: choose one of {COT_STYLES}")
    if num_options != 0 and not 2 <= num_options <= len(DIRECTIONS):
        raise ValueError(f"num_options={num_options}: multiple-choice items need 2 to {len(DIRECTIONS)} options "
                         f"(or 0: every colour/direction as an option, in a fixed order)")
    if n < 1 or n_eval < 0:
        raise ValueError(f"n={n}, n_eval={n_eval}: need n >= 1 training items and n_eval >= 0")
    if frames < 4 or frames % 2:
        raise ValueError(f"frames={frames}: need an even number of frames >= 4 (events are drawn in 2-frame blocks)")
    if size < 28 or size % 4:
        raise ValueError(f"size={size}: frame side must be a multiple of 4 and >= 28 pixels (one 28-px patch)")


def build_toy_data(out_dir: str | Path, n: int = 64, n_eval: int | None = None, seed: int = 0, frames: int = 16,
                   size: int = 64, mix: dict[str, int] | None = None, num_options: int = 4, cot: str = "full",
                   colours: int = len(COLOURS)) -> Path:
    """Generate the synthetic dataset into ``out_dir`` (written atomically: nothing is left half-written).

    n: training records; n_eval: held-out records (default n // 4, at least 8); frames: frames per clip (even, ≥ 4,
    written at 4 fps); size: frame side in pixels; mix: task name → sampling weight (default ``DEFAULT_MIX``);
    num_options: options per multiple-choice question (2–4, shuffled), or 0 for a fixed palette (every colour /
    direction as an option, always in the same order); cot: "full" (a few sentences of reasoning) or "short" (one
    fact, e.g. "<think>red first.</think>"); colours: palette size (the first k of red, green, blue, yellow, white,
    magenta; with num_options=0 and colours=2 every colour question is a fixed two-way choice). Returns ``out_dir``.
    """
    n_eval = max(8, n // 4) if n_eval is None else n_eval
    _validate_args(n, n_eval, frames, size, num_options, cot, colours)
    palette = list(COLOURS)[:colours]
    mix = dict(DEFAULT_MIX if mix is None else mix)
    for name in mix:
        TASKS.get(name)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new directory or delete it")
    rng = np.random.default_rng(seed)
    names, weights = list(mix), np.array(list(mix.values()), dtype=float)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".toy-", dir=out.parent))
    try:
        for sub in ("videos", "images", "holmes/videos"):
            (tmp / sub).mkdir(parents=True)
        splits: dict[str, list[dict]] = {"train": [], "eval": []}
        holmes: list[dict] = []
        pid = 0
        for split, count in (("train", n), ("eval", n_eval)):
            for _ in range(count):
                task = str(rng.choice(names, p=weights / weights.sum()))
                item = TASKS.get(task)(rng, frames, size, num_options, palette=palette)
                if cot == "short":
                    item.process = SHORT_COT[task](item.meta)
                stem = f"{split}_{pid:05d}_{task}"
                if item.data_type == "video":
                    rel = f"./videos/{stem}.mp4"
                    write_mp4(item.frames, tmp / rel, TOY_FPS)
                else:
                    rel = f"./images/{stem}.png"
                    write_png(item.frames, tmp / rel)
                splits[split].append(_record(item, pid, rel, task))
                if split == "eval" and item.data_type == "video" and item.problem_type == "multiple choice":
                    shutil.copy(tmp / rel, tmp / "holmes" / "videos" / f"{stem}.mp4")
                    holmes.append({
                        "video ID": stem, "Question ID": str(pid), "Question Type": item.holmes_type,
                        "Question": item.problem,
                        "Options": {o.split(". ", 1)[0]: o.split(". ", 1)[1] for o in item.options},
                        "Answer": item.answer, "Explanation": item.process[len("<think>"):-len("</think>")],
                    })
                pid += 1
        for split, recs in splits.items():
            (tmp / f"{split}.json").write_text(json.dumps(recs, indent=1))
        (tmp / "holmes" / "test_Video-Holmes.json").write_text(json.dumps(holmes, indent=1))
        (tmp / "toy_data_info.json").write_text(json.dumps(
            {"n": n, "n_eval": n_eval, "seed": seed, "frames": frames, "size": size, "fps": TOY_FPS, "mix": mix,
             "num_options": num_options, "cot": cot, "colours": colours},
            indent=2))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

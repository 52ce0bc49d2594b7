"""vLLM rollouts, colocated with training: the policy's weights are pushed into the vLLM engine every step.

Optional extra (``pip install -e '.[vllm]'``), imported lazily; never needed by the tests. vLLM samples from the
chat-templated prompt text + raw frames; the completions come back as ids and are then scored by the same
teacher-forced policy / probe passes as HF rollouts (so KTR works unchanged: the first KTR with vLLM rollouts).
"""
from __future__ import annotations

import torch

from video_ktr.rollout.hf import eos_token_ids
from video_ktr.rollout.types import PromptBatch, Rollout, completion_mask_from_ids, repeat_rows


class VLLMEngine:
    def __init__(self, *, model_path: str, temperature: float, top_p: float, top_k: int, max_new_tokens: int,
                 gpu_memory_utilization: float = 0.3, seed: int = 0, **_unused):
        try:
            from vllm import LLM, SamplingParams
        except ImportError as e:  # pragma: no cover - optional extra
            raise ImportError("rollout.engine=vllm needs vLLM: pip install -e '.[vllm]' (GPU only)") from e
        self.llm = LLM(model=model_path, gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                       limit_mm_per_prompt={"image": 1, "video": 1}, enable_prefix_caching=True)
        self.params = SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k or -1,
                                     max_tokens=max_new_tokens)

    def sync_weights(self, model) -> None:  # pragma: no cover - GPU only
        """Push the policy weights (gathered under ZeRO-3 by the caller's unwrap) into the colocated engine."""
        state = ((k.removeprefix("module."), v) for k, v in model.state_dict().items())
        runner = self.llm.llm_engine.model_executor.driver_worker.model_runner
        runner.model.load_weights(state)
        self.llm.reset_prefix_cache()

    @torch.no_grad()
    def generate(self, model, batch: PromptBatch, group_size: int, tokenizer, **_unused) -> Rollout:  # pragma: no cover
        prompts = []
        for text, media in zip(batch.texts, batch.media):
            data = {media.kind: list(media.frames) if media.kind == "image" else media.frames}
            prompts.append({"prompt": text, "multi_modal_data": data})
        params = self.params.clone()
        params.n = group_size
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        seqs = [list(c.token_ids) for o in outs for c in o.outputs]     # N lists, prompt-major
        pad = model.generation_config.pad_token_id
        t = max(1, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), t), pad, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask, truncated = completion_mask_from_ids(ids, eos_token_ids(model))
        inputs = repeat_rows(batch.inputs, group_size, model.config)
        texts = tokenizer.batch_decode(ids.masked_fill(~mask, pad), skip_special_tokens=True)
        return Rollout(inputs, ids.to(batch.inputs["input_ids"].device), mask, truncated, texts, group_size)

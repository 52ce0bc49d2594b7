"""Every model pass of a step, run through what ``accelerator.prepare`` returned.

The policy (and, under ZeRO-3 and FSDP2, the reference) is wrapped in :class:`PassModule` *before* ``prepare``: its
forward takes a pass function of the ktr stage (``completion_forward``, a probe, generation under FSDP2, …) and runs
it on the HF model inside. So every pass enters through the DDP / DeepSpeed / FSDP2 wrapper — DDP all-reduces the
gradient, ZeRO-3 gathers the parameters each submodule needs, FSDP2 gathers its root unit here and each decoder
layer / embedding / [norm, head] unit in its own forward (the vision tower is replicated), accelerate's autocast
applies — while the stage functions stay plain ``(model, tensors) -> tensors``. The LM head is called as a module
(``ktr.logprobs.ChunkedLMHead``), so the chunked log-prob / entropy head gathers only the head weight and keeps its
``chunk_size × V`` memory bound.

:class:`Passes` owns the modes: train mode for the loss pass (gradient checkpointing is active only in train mode),
eval mode for generation, the reference and the probes.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import fields, is_dataclass

import torch
from torch import Tensor, nn

from video_ktr.ktr import completion_forward
from video_ktr.ktr.logprobs import CompletionOutput, chunked_head


class PassModule(nn.Module):
    """What ``accelerator.prepare`` wraps: the HF model (or its peft wrapper) as ``.model``; ``forward(fn, ...)``
    runs ``fn(hf_model, ...)`` and returns dataclass outputs as a dict (DDP/DeepSpeed find the tensors in it)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        chunked_head(self.hf_model)          # the head becomes a ChunkedLMHead before any wrapper hooks it

    @property
    def hf_model(self) -> nn.Module:
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    @property
    def config(self):
        return self.hf_model.config

    # what accelerate's FSDP2 preparation reads to cut the model into units (decoder layers, embeddings, [final
    # norm, LM head]; vision blocks are wrapped too but their parameters are ignored: setup.VISION_MODULES); the
    # root unit keeps the rest and is gathered by this module's forward
    @property
    def _no_split_modules(self):
        return getattr(self.hf_model, "_no_split_modules", None)

    def get_input_embeddings(self):
        return self.hf_model.get_input_embeddings()

    def get_output_embeddings(self):
        return self.hf_model.get_output_embeddings()

    def forward(self, fn, *args, **kwargs):
        out = fn(self.hf_model, *args, **kwargs)
        if is_dataclass(out):
            out = {f.name: getattr(out, f.name) for f in fields(out)}
        return out


def _generate(model, engine, *args, **kwargs) -> dict:
    """A pass function: ``engine.generate`` on the HF model, inside the wrapper's forward (FSDP2)."""
    return {"rollout": engine.generate(model, *args, **kwargs)}


def as_output(out) -> CompletionOutput:
    return out if isinstance(out, CompletionOutput) else CompletionOutput(**out)


def strategy(accelerator) -> str:
    """'zero3' | 'zero2' (any DeepSpeed stage < 3) | 'fsdp2' | 'ddp' (also one process)."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        stage = accelerator.state.deepspeed_plugin.deepspeed_config["zero_optimization"].get("stage", 0)
        return "zero3" if int(stage) == 3 else "zero2"
    if accelerator.distributed_type == DistributedType.FSDP:
        return "fsdp2"                                  # (setup refuses FSDP1)
    return "ddp"


@contextmanager
def gathered_params(params: list[nn.Parameter], accelerator):
    """Read-only full values of ``params`` (detached): ZeRO-3 gathers its partitions, FSDP2 DTensors are
    materialised, plain parameters pass through. For weight pushes (vLLM) and the head weight of distance scores."""
    params = list(params)
    if strategy(accelerator) == "zero3":
        import deepspeed

        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            yield [p.detach() for p in params]
        return
    yield [p.full_tensor().detach() if hasattr(p, "full_tensor") else p.detach() for p in params]


class MixedMediaError(RuntimeError):
    """Ranks whose passes would call the sharded vision tower a different number of times (ZeRO-3)."""


def agree_any(flag: bool, accelerator) -> bool:
    """True on every rank if ``flag`` is True on any rank (one all-reduce; no-op on one process)."""
    if accelerator.num_processes == 1:
        return bool(flag)
    t = torch.tensor([int(bool(flag))], device=accelerator.device)
    return bool(accelerator.reduce(t, reduction="sum").item() > 0)


def agree_max(value: int, accelerator) -> int:
    """The largest ``value`` over the ranks (one all-reduce)."""
    if accelerator.num_processes == 1:
        return int(value)
    t = torch.tensor([int(value)], device=accelerator.device)
    return int(accelerator.gather(t).max().item())


class Passes:
    """Runs the policy / reference / probe / generation passes of a step on the prepared models.

    policy: what ``prepare`` returned for a :class:`PassModule`; reference: a prepared (ZeRO-3) or plain
    :class:`PassModule` in eval mode, or None. ``lockstep``: every forward is a collective (ZeRO-3, FSDP2: each
    unit gathers its shards), so ranks must run the same passes in the same order (generation uses ``synced_gpus``).
    """

    def __init__(self, accelerator, policy, reference=None, *, chunk_size: int):
        self.acc, self.policy, self.reference, self.chunk_size = accelerator, policy, reference, chunk_size
        self.strategy = strategy(accelerator)
        self.lockstep = self.strategy in ("zero3", "fsdp2") and accelerator.num_processes > 1

    @property
    def module(self) -> PassModule:
        return self.acc.unwrap_model(self.policy)

    @property
    def model(self) -> nn.Module:
        """The HF model inside the wrapper (config, generation config; its parameters may be sharded)."""
        return self.module.hf_model

    # ------------------------------------------------------------------------------------------- passes
    def policy_pass(self, ro, *, return_hidden: bool = False, return_vision: bool = False) -> CompletionOutput:
        """The loss pass: train mode, with grad, (N, T) log-probs and entropies of the rollout's completions."""
        self.check_media_kinds(ro.inputs)
        self.policy.train()
        out = self.policy(completion_forward, ro.inputs, ro.completion_ids, ro.completion_mask, with_entropy=True,
                          chunk_size=self.chunk_size, return_hidden=return_hidden, return_vision=return_vision)
        return as_output(out)

    @torch.no_grad()
    def reference_logprobs(self, ro) -> Tensor:
        """(N, T) log-probs of the frozen reference (KL term)."""
        with self._autocast():
            out = self.reference(completion_forward, ro.inputs, ro.completion_ids, ro.completion_mask,
                                 with_entropy=False, chunk_size=self.chunk_size)
        return as_output(out).logp

    @torch.no_grad()
    def probe(self, fn, *args, **kwargs):
        """A counterfactual pass ``fn(model, *args, **kwargs)`` of the current policy in eval mode, no grad."""
        self.policy.eval()
        out = self.policy(fn, *args, **kwargs)
        return as_output(out) if isinstance(out, dict) and "logp" in out else out

    @torch.no_grad()
    def generate(self, engine, batch, group_size: int, tokenizer, **kwargs):
        """G completions per prompt from the policy in eval mode (ZeRO-3, FSDP2: every rank steps together).
        FSDP2 gathers the root unit's parameters (vision patch embedding, merger, …) only in the wrapper's forward,
        so generation runs inside it there; ZeRO-3 gathers per submodule, and DDP needs no wrapper."""
        self.check_media_kinds(batch.inputs)
        self.policy.eval()
        with self._autocast():
            if self.strategy == "fsdp2":
                return self.policy(_generate, engine, batch, group_size, tokenizer, **kwargs)["rollout"]
            return engine.generate(self.model, batch, group_size, tokenizer, **kwargs)

    def check_media_kinds(self, inputs: dict) -> None:
        """ZeRO-3 on N ranks: stop with an error when the ranks' inputs hold different numbers of media kinds
        (images, videos): a pass calls the vision tower once per kind present, and ZeRO-3's per-module all-gathers
        must line up over the ranks (an image on one rank and a video on the other is fine: one call each). On CPU
        (gloo) {image, video} against {video} crashed with "received data size doesn't match"; on GPUs it can
        hang. One all-gather of 2 flags per pass (generation and loss pass)."""
        if not (self.lockstep and self.strategy == "zero3"):
            return
        mine = torch.tensor([[inputs.get(k) is not None for k in ("pixel_values", "pixel_values_videos")]],
                            dtype=torch.int64, device=self.acc.device)                   # (1, 2)
        kinds = self.acc.gather(mine).view(-1, 2)                                          # (ranks, 2)
        if not (kinds.sum(1) == kinds[0].sum()).all():
            names = ["{" + ", ".join(n for n, on in zip(("image", "video"), r.tolist()) if on) + "}" for r in kinds]
            raise MixedMediaError(
                f"ZeRO-3 on {len(names)} processes: the ranks' micro-batches hold different numbers of media kinds "
                f"({', '.join(f'rank {i}: {n}' for i, n in enumerate(names))}); the partitioned vision tower would "
                f"be called a different number of times per rank and its all-gathers would not line up (crash or "
                f"hang). Use FSDP2 (trainer.fsdp=true: the vision tower is replicated), DDP, rollout.batch_size=1 "
                f"with grad_accum micro-batches on data where every record has media, or data of one media kind")

    def sync_replicated_grads(self) -> None:
        """FSDP2 on N ranks: average over the ranks the gradients of the trainable parameters it does not shard
        (the vision tower, ``setup.VISION_MODULES``), as DDP would. Every rank calls it before the optimizer
        step; a rank whose micro-batches had no media for it contributes zeros."""
        if self.strategy != "fsdp2" or self.acc.num_processes == 1:
            return
        params = [p for p in self.policy.parameters() if p.requires_grad and not hasattr(p, "to_local")]
        by_dtype: dict = {}
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        for dtype in sorted(by_dtype, key=str):                       # the same order on every rank
            group = by_dtype[dtype]
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group])
            torch.distributed.all_reduce(flat)                        # sum (gloo has no average)
            flat /= self.acc.num_processes
            for p, g in zip(group, flat.split([p.numel() for p in group])):
                p.grad = g.view_as(p)

    @contextmanager
    def head_weight(self):
        """The LM head weight (V, D), detached and unsharded, for the distribution-distance scores."""
        head = self.model.get_output_embeddings()
        with gathered_params([head.weight], self.acc) as (w,):
            yield w

    # ------------------------------------------------------------------------------------------- helpers
    def _autocast(self):
        return self.acc.autocast() if not self.strategy.startswith("zero") else nullcontext()  # DeepSpeed casts

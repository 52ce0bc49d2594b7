"""Build what a run needs from the config: accelerator, policy (+ frozen vision tower / LoRA), reference model,
optimizer and LR schedule. Everything distributed (DeepSpeed ZeRO, FSDP, mixed precision, accumulation) comes from
accelerate; the LR schedule from ``transformers.get_scheduler``."""
from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
VISION_ATTRS = ("visual", "vision_tower", "vision_model")


def build_accelerator(cfg, *, log: bool = True):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    report = [r for r in cfg.trainer.report_to if r] if log else []
    return Accelerator(mixed_precision=cfg.trainer.mixed_precision, gradient_accumulation_steps=cfg.trainer.grad_accum,
                       log_with=report or None,
                       project_config=ProjectConfiguration(project_dir=cfg.trainer.output_dir, logging_dir=cfg.trainer.output_dir))


def vision_tower(model):
    """The vision encoder submodule of a HF VLM (``model.model.visual`` for Qwen-VL), or None."""
    for root in (getattr(model, "model", None), model):
        for name in VISION_ATTRS:
            if root is not None and hasattr(root, name):
                return getattr(root, name)
    return None


def check_model_path(path: str) -> None:
    """A local checkpoint dir must exist; a hub id ('org/name') is left to ``from_pretrained``."""
    from pathlib import Path

    p = Path(path)
    looks_local = p.is_absolute() or path.startswith(".") or len(p.parts) != 2
    if not p.exists() and looks_local:
        raise FileNotFoundError(
            f"model.path={path!r} does not exist (and is not a hub id 'org/name'). Build the toy checkpoint with "
            f"`video-ktr toy model {path} --size small`, or point model.path at a checkpoint directory")


def load_policy(model_cfg, *, trainable: bool = True):
    """``AutoModelForImageTextToText`` + processor; freezes the vision tower / wraps in LoRA as configured."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    check_model_path(model_cfg.path)
    kw = {"dtype": DTYPES[model_cfg.dtype]}
    if model_cfg.attn_implementation:
        kw["attn_implementation"] = model_cfg.attn_implementation
    model = AutoModelForImageTextToText.from_pretrained(model_cfg.path, **kw)
    processor = AutoProcessor.from_pretrained(model_cfg.path)
    if not trainable:
        model.requires_grad_(False).eval()
        return model, processor
    if model_cfg.freeze_vision_tower:
        tower = vision_tower(model)
        if tower is None:
            raise ValueError(f"model.freeze_vision_tower: {type(model).__name__} has no vision tower attribute "
                             f"among {VISION_ATTRS}")
        tower.requires_grad_(False)
    if model_cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if model_cfg.lora.enabled:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=model_cfg.lora.r, lora_alpha=model_cfg.lora.alpha, lora_dropout=model_cfg.lora.dropout,
                          target_modules=list(model_cfg.lora.target_modules), task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)
    return model, processor


def base_model(model):
    """The HF model under a peft wrapper (the stage functions call ``model.model`` / ``get_output_embeddings``)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def clip_norm(optim_cfg) -> float:
    """The max gradient norm for ``clip_grad_norm_``: ``optim.max_grad_norm``, or inf (measure only) when None."""
    return float("inf") if optim_cfg.max_grad_norm is None else optim_cfg.max_grad_norm


def build_optimizer(model, optim_cfg, num_training_steps: int, lr: float | None = None):
    from transformers import get_scheduler

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": optim_cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr or optim_cfg.lr, betas=(optim_cfg.adam_beta1, optim_cfg.adam_beta2),
                            eps=optim_cfg.adam_eps)
    sched = get_scheduler(optim_cfg.lr_scheduler, opt, num_warmup_steps=int(optim_cfg.warmup_ratio * num_training_steps),
                          num_training_steps=num_training_steps)
    return opt, sched

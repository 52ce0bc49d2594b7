"""Build what a run needs from the config: accelerator (DDP, DeepSpeed ZeRO-2/3 with a fully resolved DeepSpeed
config, FSDP2 — also on a CPU gloo group, where accelerate alone would fall back to DDP), policy (+ frozen vision tower / LoRA), reference model, optimizer and LR schedule. The LR schedule comes
from ``transformers.get_scheduler`` and is stepped once per optimizer step, whatever the number of processes.

DeepSpeed is chosen by ``trainer.deepspeed`` (a JSON path) or by ``accelerate launch`` with a DeepSpeed config
(``ACCELERATE_USE_DEEPSPEED`` / ``ACCELERATE_DEEPSPEED_CONFIG_FILE``). Its ``"auto"`` values are filled here,
because no dataloader is passed to ``prepare``: micro-batch = ``rollout.batch_size``, accumulation =
``trainer.grad_accum``, clipping = ``optim.max_grad_norm``, ZeRO-3 buckets from the *text* model's hidden size.
"""
from __future__ import annotations

import copy
import json
import os

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
VISION_ATTRS = ("visual", "vision_tower", "vision_model")


def text_hidden_size(model_config) -> int:
    """The language model's hidden size (Qwen-VL configs keep it in ``text_config``, not at the top level)."""
    for c in (getattr(model_config, "text_config", None), model_config):
        h = getattr(c, "hidden_size", None) if c is not None else None
        if h:
            return int(h)
    raise ValueError(f"{type(model_config).__name__} has no hidden_size (nor text_config.hidden_size): cannot size "
                     f"the ZeRO-3 buckets; set them to numbers in the DeepSpeed config")


def deepspeed_config_path(cfg) -> str | None:
    """``trainer.deepspeed``, else the file ``accelerate launch`` named, else None (no DeepSpeed)."""
    if cfg.trainer.deepspeed:
        return cfg.trainer.deepspeed
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE") or None
    return None


def resolve_deepspeed_config(ds: dict, cfg, *, hidden_size: int, num_processes: int) -> dict:
    """A copy of DeepSpeed config ``ds`` with every ``"auto"`` replaced by the value this run uses.

    Raises ValueError naming any ``"auto"`` left that the trainer cannot decide.
    """
    ds = copy.deepcopy(ds)
    micro, gas = cfg.rollout.batch_size, cfg.trainer.grad_accum
    fill = {"train_micro_batch_size_per_gpu": micro, "gradient_accumulation_steps": gas,
            "train_batch_size": micro * gas * num_processes,
            "gradient_clipping": cfg.optim.max_grad_norm or 0.0}              # None = no clipping (DeepSpeed: 0)
    for k, v in fill.items():
        if ds.get(k, "auto") == "auto":
            ds[k] = v
        elif k != "gradient_clipping" and int(ds[k]) != v:
            raise ValueError(f"DeepSpeed config {k}={ds[k]} but this run uses {v} (rollout.batch_size={micro}, "
                             f"trainer.grad_accum={gas}, {num_processes} processes): set it to \"auto\"")
    for key, on in (("bf16", cfg.trainer.mixed_precision == "bf16"), ("fp16", cfg.trainer.mixed_precision == "fp16")):
        if key in ds and ds[key].get("enabled") == "auto":
            ds[key]["enabled"] = on
    zero = ds.setdefault("zero_optimization", {})
    h = hidden_size
    for k, v in {"reduce_bucket_size": h * h, "stage3_prefetch_bucket_size": int(0.9 * h * h),
                 "stage3_param_persistence_threshold": 10 * h}.items():
        if zero.get(k) == "auto":
            zero[k] = v
    left = [k for k, v in _walk(ds) if v == "auto"]
    if left:
        raise ValueError(f"DeepSpeed config: cannot decide {left} (\"auto\"): set them to values")
    return ds


def _walk(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _walk(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def build_deepspeed_config(cfg, num_processes: int) -> dict | None:
    """The resolved DeepSpeed config of this run (reads the model's config.json only; loads no weights)."""
    path = deepspeed_config_path(cfg)
    if path is None:
        return None
    from transformers import AutoConfig

    check_model_path(cfg.model.path)
    ds = json.loads(open(path).read())
    return resolve_deepspeed_config(ds, cfg, hidden_size=text_hidden_size(AutoConfig.from_pretrained(cfg.model.path)),
                                    num_processes=num_processes)


def fsdp_launched() -> bool:
    """``accelerate launch`` named an FSDP config (it sets ``ACCELERATE_USE_FSDP`` and ``FSDP_VERSION``; accelerate
    itself sets the first one in-process whenever it gets an FSDP plugin)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and "FSDP_VERSION" in os.environ


def fsdp_requested(cfg) -> bool:
    """``trainer.fsdp``, or ``accelerate launch`` with an FSDP config."""
    return bool(cfg.trainer.fsdp) or fsdp_launched()


def build_fsdp_plugin(cfg):
    """The FSDP2 plugin of this run, or None. ``trainer.fsdp``: one unit per decoder layer (the model's
    ``_no_split_modules``), embeddings and [final norm, LM head] as their own units, the vision tower not sharded
    (``VISION_MODULES``), sharded state dicts in
    checkpoints. Under ``accelerate launch`` its ``FSDP_*`` settings apply; FSDP1 and accelerate's activation
    checkpointing are refused (``model.gradient_checkpointing`` is the one switch)."""
    if not fsdp_requested(cfg):
        return None
    if deepspeed_config_path(cfg):
        raise ValueError(f"FSDP and a DeepSpeed config ({deepspeed_config_path(cfg)}) are both set: pick one")
    from accelerate.utils import FullyShardedDataParallelPlugin

    if fsdp_launched():
        plugin = FullyShardedDataParallelPlugin()                     # FSDP_* variables of `accelerate launch`
    else:
        plugin = FullyShardedDataParallelPlugin(
            fsdp_version=2, auto_wrap_policy="transformer_based_wrap", reshard_after_forward=True,
            state_dict_type="SHARDED_STATE_DICT", cpu_ram_efficient_loading=False, activation_checkpointing=False)
    if plugin.fsdp_version != 2:
        raise ValueError(f"FSDP version {plugin.fsdp_version}: the RL trainer runs FSDP2 only (fsdp_version: 2 in "
                         f"the accelerate config, see configs/accelerate/fsdp2.yaml)")
    if plugin.activation_checkpointing:
        raise ValueError("fsdp_activation_checkpointing: true: use model.gradient_checkpointing instead (the "
                         "trainer turns it on per pass; both would checkpoint every layer twice)")
    if plugin.ignored_modules is not None:
        raise ValueError("fsdp_ignored_modules: the trainer sets them itself (the vision tower)")
    plugin.ignored_modules = VISION_MODULES
    return plugin


# The vision encoder, kept out of FSDP2 (replicated on every rank, its gradients all-reduced by the trainer:
# ``passes.sync_replicated_grads``): a rank calls it once per media kind in its micro-batch (images, videos, none),
# so its sharded all-gathers would not line up across ranks — with FSDP2 sharding it, 2 ranks holding {image,
# video} and {video} crashed with a collective size mismatch at the first generation. Module names inside the
# PassModule (``model.model.visual``; with LoRA ``model.base_model.model.model.visual``), matched in full.
VISION_MODULES = r"(?:.*\.)?(?:" + "|".join(VISION_ATTRS) + ")"


def build_accelerator(cfg, *, log: bool = True):
    """The run's Accelerator. ``step_scheduler_with_optimizer=False``: the trainer steps the LR schedule itself,
    once per optimizer step (accelerate would otherwise step it ``num_processes`` times)."""
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin, ProjectConfiguration

    report = [r for r in cfg.trainer.report_to if r] if log else []
    kw = {}
    ds = build_deepspeed_config(cfg, int(os.environ.get("WORLD_SIZE", "1")))  # (no PartialState before Accelerator)
    if ds is not None:
        zero3 = int(ds["zero_optimization"].get("stage", 0)) == 3
        init = os.environ.get("ACCELERATE_DEEPSPEED_ZERO3_INIT", "true" if zero3 else "false").lower() == "true"
        kw["deepspeed_plugin"] = DeepSpeedPlugin(hf_ds_config=ds, zero3_init_flag=init and zero3)
        if not torch.cuda.is_available():  # DeepSpeed's CPU accelerator: accelerate needs the backend named
            from accelerate.utils import InitProcessGroupKwargs

            kw["kwargs_handlers"] = [InitProcessGroupKwargs(backend="gloo")]
    if ds is not None and os.environ.get("ACCELERATE_USE_CPU", "false").lower() == "true":
        raise ValueError("DeepSpeed with ACCELERATE_USE_CPU=true: accelerate would silently train without DeepSpeed. "
                         "On CPU launch `torchrun --nproc_per_node N` without ACCELERATE_USE_CPU (DeepSpeed's CPU "
                         "accelerator and gloo are picked automatically)")
    fsdp = build_fsdp_plugin(cfg)
    if fsdp is not None:
        kw["fsdp_plugin"] = fsdp
    acc = Accelerator(mixed_precision=cfg.trainer.mixed_precision, gradient_accumulation_steps=cfg.trainer.grad_accum,
                      log_with=report or None, step_scheduler_with_optimizer=False,
                      project_config=ProjectConfiguration(project_dir=cfg.trainer.output_dir,
                                                          logging_dir=cfg.trainer.output_dir), **kw)
    if fsdp is not None and acc.distributed_type.value == "MULTI_CPU":
        use_fsdp_on_cpu(acc, fsdp)
    elif fsdp is not None and acc.num_processes == 1:
        acc.print("FSDP on one process: nothing to shard, training as a single process")
    if ds is not None and acc.distributed_type.value != "DEEPSPEED":
        raise ValueError(f"a DeepSpeed config is set ({deepspeed_config_path(cfg)}) but accelerate runs "
                         f"{acc.distributed_type.value}: start it with `accelerate launch` or `torchrun`")
    return acc


def use_fsdp_on_cpu(accelerator, plugin) -> None:
    """accelerate 1.15 selects FSDP for GPU-like devices only and silently runs DDP on a CPU (gloo) group, although
    torch's ``fully_shard`` runs there: switch the state to FSDP2, so ``prepare``, ``clip_grad_norm_``,
    ``save_state`` / ``load_state`` and ``get_state_dict`` take accelerate's FSDP2 paths, as on GPUs."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    if accelerator.mixed_precision != "no":
        plugin.set_mixed_precision(accelerator.mixed_precision)
    accelerator.state.fsdp_plugin = plugin
    accelerator.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP   # what accelerate does on GPUs (a later
                                                                            # AcceleratorState() copies it back)


def prepare_reference(model, accelerator):
    """The frozen reference for inference: under DeepSpeed an inference engine (ZeRO-3: partitioned; ZeRO-2: stage 0,
    i.e. full weights in the run's bf16/fp16, no optimizer); under FSDP2 sharded like the policy (its passes go
    through the root's forward); otherwise a plain module on the device (no gradient, so no DDP wrapper is needed)."""
    from video_ktr.trainer.passes import PassModule, strategy

    mod = PassModule(model).eval()
    if strategy(accelerator) == "fsdp2":
        from accelerate.utils.fsdp_utils import fsdp2_prepare_model

        return fsdp2_prepare_model(accelerator, mod).eval()
    if strategy(accelerator) not in ("zero3", "zero2"):
        return mod.to(accelerator.device)
    import deepspeed

    ds = copy.deepcopy(accelerator.state.deepspeed_plugin.deepspeed_config)
    ds.pop("optimizer", None), ds.pop("scheduler", None)
    if strategy(accelerator) != "zero3":
        ds["zero_optimization"] = {"stage": 0}
    engine, *_ = deepspeed.initialize(model=mod, config=ds)
    engine.eval()                        # (DeepSpeedEngine.eval returns None)
    return engine


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
            ndim = len(getattr(p, "ds_shape", p.shape))     # ZeRO-3 partitions are 1-D; ds_shape is the real one
            (no_decay if ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": optim_cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr or optim_cfg.lr, betas=(optim_cfg.adam_beta1, optim_cfg.adam_beta2),
                            eps=optim_cfg.adam_eps)
    return opt, build_scheduler(opt, optim_cfg, num_training_steps)


def build_scheduler(optimizer, optim_cfg, num_training_steps: int):
    """The LR schedule over ``num_training_steps`` optimizer steps (``transformers.get_scheduler``)."""
    from transformers import get_scheduler

    return get_scheduler(optim_cfg.lr_scheduler, optimizer,
                         num_warmup_steps=int(optim_cfg.warmup_ratio * num_training_steps),
                         num_training_steps=num_training_steps)


def torch_optimizer(prepared):
    """The ``torch.optim.Optimizer`` whose param groups a prepared optimizer really steps (DeepSpeed's ZeRO
    optimizers rebuild the groups at ``prepare``, so the LR schedule is built on this one, after ``prepare``)."""
    o = prepared
    while hasattr(o, "optimizer"):      # accelerate wrapper → (DeepSpeed ZeRO optimizer →) torch optimizer
        o = o.optimizer
    if not isinstance(o, torch.optim.Optimizer):
        raise TypeError(f"cannot find the torch optimizer inside {type(prepared).__name__}")
    return o

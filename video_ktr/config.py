"""One config tree for a run: dataclasses checked when built, YAML on top, dotted CLI overrides, dumped with the run.

``load_config("configs/demo_cpu.yaml", ["ktr.visual_ratio=0.3", "--loss.beta", "0"])`` merges, in order:
the algorithm preset (``ALGORITHMS``, chosen by ``algorithm:``) → the YAML → the overrides, then builds the tree.
Unknown keys are errors. ``dump_config(cfg, path)`` writes the full resolved tree (RUN/config.yaml).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from video_ktr.registry import Registry


# ----------------------------------------------------------------------------------------------- sections
@dataclass
class LoRAConfig:
    enabled: bool = False                 # train low-rank adapters (peft) instead of the full weights
    r: int = 16                           # adapter rank
    alpha: int = 32                       # scaling numerator (scale = alpha / r)
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # language-model modules only


@dataclass
class ModelConfig:
    path: str = ""                        # HF checkpoint dir or hub id (AutoModelForImageTextToText)
    dtype: str = "float32"                # weights dtype when loaded: float32 | bfloat16 | float16
    attn_implementation: str | None = None  # e.g. "flash_attention_2" on GPU; None = transformers' default
    freeze_vision_tower: bool = False     # no gradient into the vision encoder (needed by the tiny CPU models)
    gradient_checkpointing: bool = False  # recompute activations in backward (7B recipe: on)
    lora: LoRAConfig = field(default_factory=LoRAConfig)


@dataclass
class DataConfig:
    train_path: str = ""                  # Video-R1 JSON/JSONL of training records
    eval_path: str | None = None          # held-out records (greedy accuracy before/after)
    root: str | None = None               # media root; default: the JSON's directory
    allow_outside_root: bool = False      # accept media paths resolving outside the root ('..', absolute, symlinks)
    template: str = "reasoning"           # prompt template: a name (video_ktr.data PROMPTS) or a text file's path
                                          # (str.format over {question}, {answer_format}, …: data/prompts.py)
    on_error: str = "raise"               # bad records: "raise" | "skip" (counted and reported)
    fps: float = 2.0                      # frames sampled per second of video
    nframes: int | None = None            # fixed frame count instead of fps
    min_frames: int = 4
    max_frames: int = 16
    video_max_pixels: int = 128 * 28 * 28  # pixels per frame after resize
    video_min_pixels: int = 4 * 28 * 28   # floor per frame: smaller clips are upscaled (reference: 128 * 28 * 28)
    video_time: str = "absolute"          # M-RoPE time of temporal patches: absolute (real seconds between sampled
                                          # frames) | reference (1.0 s apart whatever the fps, as the reference code)
    image_max_pixels: int = 256 * 28 * 28
    cache_media: bool = False             # keep decoded frames in memory (small datasets / the CPU demo)
    shuffle: bool = True                  # reshuffle the records every epoch (seeded by trainer.seed + epoch)

    def __post_init__(self):
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"data.on_error={self.on_error!r} must be 'raise' or 'skip'")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"data.min_frames={self.min_frames} / max_frames={self.max_frames}: need 1 <= min <= max")
        if not self.video_min_pixels <= self.video_max_pixels:
            raise ValueError(f"data.video_min_pixels={self.video_min_pixels} must be <= video_max_pixels="
                             f"{self.video_max_pixels}")


@dataclass
class RolloutConfig:
    engine: str = "hf"                    # rollout engine name (video_ktr.rollout ENGINES): hf | vllm
    batch_size: int = 1                   # prompts per device per step (B)
    group_size: int = 8                   # completions per prompt (G)
    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int = 0                        # 0 = off
    max_new_tokens: int = 768
    mask_truncated: bool = False          # completions without EOS get no loss
    shuffled_group_frac: float = 0.0      # T-GRPO: extra rollouts on shuffled frames, as a fraction of G (0.5)
    max_resample: int = 0                 # DAPO dynamic sampling: extra rounds that replace all-equal-reward groups
                                          # by fresh prompts (0 = such groups are only left out of the loss)
    vllm_gpu_memory_utilization: float = 0.3  # vllm engine only (colocated with training)
    vllm_max_model_len: int = 8192        # vllm engine only: prompt (with vision tokens) + completion, in tokens

    def __post_init__(self):
        if self.group_size < 2:
            raise ValueError(f"rollout.group_size={self.group_size} must be >= 2: advantages compare completions "
                             "of one prompt")
        if not 0 < self.top_p <= 1 or self.temperature < 0:
            raise ValueError(f"rollout.top_p={self.top_p} must be in (0, 1] and temperature={self.temperature} >= 0")


@dataclass
class RewardConfig:
    names: tuple[str, ...] = ("accuracy", "format")  # reward functions (video_ktr.rewards REWARDS)
    weights: tuple[float, ...] | None = None         # one per name; None = all 1
    temporal_bonus: float = 0.0           # T-GRPO: bonus added when ordered acc >= ratio * shuffled acc (0.3)
    temporal_ratio: float = 0.8           # T-GRPO comparison factor
    temporal_min_acc: float = 0.1         # T-GRPO: only completions with accuracy above this get the bonus
    kwargs: dict = field(default_factory=dict)  # per-reward hyperparameters, e.g. {length: {min_length: 256}}

    def __post_init__(self):
        if self.weights is not None and len(self.weights) != len(self.names):
            raise ValueError(f"reward.weights has {len(self.weights)} values for {len(self.names)} rewards "
                             f"{list(self.names)}; give one weight per reward or none")
        from video_ktr.rewards import check_reward_config

        check_reward_config(self.names, self.weights, self.kwargs)  # unknown names/hyperparameters fail here


@dataclass
class KTRConfig:
    enabled: bool = False                 # keep the loss only on key tokens (set by algorithm: ktr)
    signals: tuple[str, ...] = ("entropy", "visual", "temporal")  # any subset; images skip "temporal"
    entropy_ratio: float = 0.2            # share of a group's completion tokens kept by the entropy signal
    visual_ratio: float = 0.2             # ... by the visual-dependence signal
    temporal_ratio: float = 0.2           # ... by the temporal-dependence signal
    combine: str = "union"                # "union" (reference) | "intersection"
    scope: str = "group"                  # quantile over the prompt's group (reference) | "batch"
    temporal_mode: str = "shuffle"        # frame permutation of the temporal probe: shuffle | reverse | segment
    temporal_fast: bool = False           # permute cached vision features by temporal patch (frame pairs) instead
                                          # of re-encoding shuffled single frames (reference)
    visual_mode: str = "drop"             # visual probe: drop placeholders (cheap, equal) | mask (reference)
    measure: str = "logp_diff"            # probe score: logp_diff (reference) | kl | js | l1 | l2 | cosine | hellinger
    weighting: str = "binary"             # binary top-ratio mask (reference) | rank_sigmoid | softmax | linear | ...
    on_constant: str = "all"              # a signal constant over a group's valid tokens (static clip's temporal
                                          # score, a visual probe with no effect): "all" keeps every token there
                                          # (reference: score >= quantile) | "none" keeps none of them
    constant_tol: float = 1e-6            # "constant" = max - min of the group's scores <= this
    static_frame_tol: float = 0.0         # a video whose sampled frames differ by <= this (Media.frame_change, mean
                                          # |pixel diff| on 0-255) is static: its temporal score is set to exactly 0,
                                          # so on_constant decides (e.g. 1.0 catches H.264 noise on static clips);
                                          # 0 = off (reference: codec noise ranks the tokens)

    def __post_init__(self):
        for name in ("entropy_ratio", "visual_ratio", "temporal_ratio"):
            r = getattr(self, name)
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"ktr.{name} must be in [0, 1], got {r}; 1.0 keeps every token (plain GRPO)")
        unknown = set(self.signals) - {"entropy", "visual", "temporal"}
        if unknown:
            raise ValueError(f"ktr.signals has unknown {sorted(unknown)}; choose from entropy, visual, temporal")


@dataclass
class LossConfig:
    beta: float = 0.04                    # KL weight; 0 loads no reference model
    epsilon: float = 0.2                  # ratio clip low (only bites when num_iterations > 1)
    epsilon_high: float | None = None     # clip-higher (DAPO 0.28); None = epsilon
    aggregation: str = "seq_mean_token_mean"  # per-completion mean then batch mean (GRPO/KTR) | token_mean (DAPO)
                                          # | constant_norm (Dr.GRPO); video_ktr.loss AGGREGATIONS
    scale_rewards: str = "group"          # advantage std scaling: group | batch | none
    adv_eps: float = 1e-4                 # std epsilon in the advantage
    num_iterations: int = 1               # optimisation passes over one rollout batch (clipping matters when > 1)
    dynamic_sampling: bool = False        # drop groups whose rewards are all equal (no signal) from the loss

    def __post_init__(self):
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ValueError(f"loss.scale_rewards={self.scale_rewards!r} must be group | batch | none")
        if self.num_iterations < 1 or self.beta < 0:
            raise ValueError(f"loss.num_iterations={self.num_iterations} must be >= 1 and beta={self.beta} >= 0")


@dataclass
class OptimConfig:
    lr: float = 2e-6
    lr_scheduler: str = "cosine"          # any transformers.get_scheduler name
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    max_grad_norm: float | None = 5.0     # clip the global gradient norm to this (> 0); None = no clipping
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8


@dataclass
class TrainerConfig:
    output_dir: str = "runs/train"
    max_steps: int = -1                   # optimizer steps; -1 = num_epochs over the data
    num_epochs: int = 1
    grad_accum: int = 1                   # prompt batches per optimizer step
    mixed_precision: str = "no"           # accelerate: no | bf16 | fp16
    seed: int = 42
    save_every: int = 100                 # checkpoint every k optimizer steps (0 = only at the end)
    keep_checkpoints: int = 2             # newest checkpoints kept on disk
    log_samples_every: int = 10           # write completions + key tokens to samples.jsonl every k steps (0 = off)
    max_logged_samples: int = 8           # completions per logging step
    report_to: tuple[str, ...] = ("tensorboard",)  # accelerate trackers: tensorboard | wandb | (empty)
    progress_bar: bool = True
    logprob_chunk_size: int = 1024        # LM-head chunk for the chunked log-prob pass
    # --- scale-out (#11) ---
    deepspeed: str | None = None          # DeepSpeed JSON (configs/deepspeed/zero{2,3}.json); None = what `accelerate
                                          # launch` names, else DDP. "auto" values are filled from this config
    fsdp: bool = False                    # FSDP2 (torch fully_shard through accelerate): parameters, gradients and
                                          # optimizer states sharded over the processes; also on when `accelerate
                                          # launch` names an FSDP config (configs/accelerate/fsdp2.yaml)
    project: str = "video-ktr"            # tracker project name (TensorBoard dir / W&B project)

    def __post_init__(self):
        if self.grad_accum < 1:
            raise ValueError(f"trainer.grad_accum={self.grad_accum} must be >= 1")
        if self.fsdp and self.deepspeed:
            raise ValueError(f"trainer.fsdp=true and trainer.deepspeed={self.deepspeed!r}: pick one way to shard")


@dataclass
class EvalConfig:
    before: bool = False                  # `train`: greedy harness eval of data.eval_path before training
    after: bool = False                   # ... and of the final checkpoint after training (RUN/eval/{before,after})
    max_samples: int | None = None        # evaluate only the first k records
    max_new_tokens: int = 768
    batch_size: int = 8


@dataclass
class SFTConfig:
    lr: float = 1e-5                      # CoT-SFT learning rate (video-ktr sft)
    max_steps: int = -1                   # -1 = num_epochs
    num_epochs: int = 1
    batch_size: int = 8


@dataclass
class Config:
    algorithm: str = "ktr"                # preset name (ALGORITHMS): grpo | ktr | t_grpo | dapo | dr_grpo
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    ktr: KTRConfig = field(default_factory=KTRConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)

    def __post_init__(self):
        ALGORITHMS.get(self.algorithm)  # loud on unknown names
        if self.rollout.shuffled_group_frac and self.reward.temporal_bonus == 0:
            raise ValueError("rollout.shuffled_group_frac > 0 but reward.temporal_bonus == 0: the shuffled "
                             "rollouts would be generated for nothing; set both (t_grpo) or neither")
        if self.rollout.max_resample and not self.loss.dynamic_sampling:
            raise ValueError("rollout.max_resample > 0 needs loss.dynamic_sampling: true (it replaces the groups "
                             "dynamic sampling would drop)")
        if self.rollout.max_resample and self.rollout.shuffled_group_frac:
            raise ValueError("rollout.max_resample is not supported with T-GRPO's shuffled rollouts; set one of them")
        if self.ktr.enabled and not self.ktr.signals:
            raise ValueError("ktr.enabled with no ktr.signals selects no token; list at least one signal")
        from video_ktr.config_rules import check_config

        check_config(self)  # every field against config_rules.RULES, the cross-field rules, then warnings

    @property
    def num_shuffled(self) -> int:
        """T-GRPO: extra rollouts per video prompt on shuffled frames."""
        return int(round(self.rollout.shuffled_group_frac * self.rollout.group_size))


# ----------------------------------------------------------------------------------------------- algorithm presets
ALGORITHMS: Registry[dict] = Registry("algorithm")
ALGORITHMS.add("grpo", {"ktr": {"enabled": False}})
ALGORITHMS.add("ktr", {"ktr": {"enabled": True}})
ALGORITHMS.add("t_grpo", {"ktr": {"enabled": False}, "rollout": {"shuffled_group_frac": 0.5},
                          "reward": {"temporal_bonus": 0.3}})
ALGORITHMS.add("dapo", {"ktr": {"enabled": False}, "loss": {"beta": 0.0, "epsilon_high": 0.28,
                                                            "aggregation": "token_mean", "dynamic_sampling": True},
                        "rollout": {"max_resample": 3}})
ALGORITHMS.add("dr_grpo", {"ktr": {"enabled": False}, "loss": {"beta": 0.0, "scale_rewards": "none",
                                                               "aggregation": "constant_norm"}})


# ----------------------------------------------------------------------------------------------- building
def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge_dicts(base: dict, top: dict) -> dict:
    """Nested override dicts merged (``top`` wins), as ``load_config`` merges YAML and overrides."""
    return _merge(base, top)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _coerce(args[0], value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(item, v, where) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{where}={value!r} must be a number") from None
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ValueError(f"{where}={value!r} must be a {tp.__name__}, not a boolean")
    if tp in (int, bool, str) and not isinstance(value, tp):
        raise ValueError(f"{where}={value!r} must be a {tp.__name__}")
    return value


def _build(cls: type, data: dict, where: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KeyError(f"unknown config key(s) {[f'{where}{k}' if not where else f'{where}.{k}' for k in unknown]}; "
                       f"known under {where or 'the root'}: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def parse_overrides(args: list[str]) -> dict:
    """``["ktr.visual_ratio=0.3", "--loss.beta", "0"]`` → nested dict; values parsed as YAML scalars."""
    out: dict = {}
    i = 0
    while i < len(args):
        a = args[i].removeprefix("--")
        if "=" in a:
            key, raw = a.split("=", 1)
        elif i + 1 < len(args):
            key, raw = a, args[i + 1]
            i += 1
        else:
            raise ValueError(f"override {args[i]!r} has no value; write key=value or --key value")
        node = out
        *parents, leaf = key.replace("-", "_").split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw)
        i += 1
    return out


def config_from_dict(data: dict) -> Config:
    """Preset of ``data['algorithm']`` (default ktr) under ``data``, then the checked dataclass tree."""
    preset = ALGORITHMS.get(data.get("algorithm", Config.algorithm))
    return _build(Config, _merge(preset, data))


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> Config:
    """YAML file (may be None) + overrides (dotted strings or a nested dict) → Config."""
    data = yaml.safe_load(Path(path).read_text()) or {} if path else {}
    extra = overrides if isinstance(overrides, dict) else parse_overrides(list(overrides or []))
    return config_from_dict(_merge(data, extra))


def config_to_dict(cfg: Config) -> dict:
    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def dump_config(cfg: Config, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))

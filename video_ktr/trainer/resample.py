"""DAPO dynamic sampling: replace prompt groups whose G rewards are all equal (zero advantage, no gradient) by
fresh prompts, for up to ``rollout.max_resample`` extra generation rounds. Groups still all-equal after the last
round stay in the batch and are left out of the loss (``loss.dynamic_sampling``).

On N processes the ranks agree on every round: each round's refill counts are all-gathered, a round runs while any
rank needs one, and the fresh prompts come from the shared order (``PromptSource.take_shared``). Under ZeRO-3/FSDP
(every forward is a collective) a rank that needs no refill in a round still runs a throwaway generation.

Shape legend: B prompts · G samples per prompt · N = B*G · T response tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from video_ktr.rollout import PromptBatch, Rollout, repeat_rows
from video_ktr.trainer.advantages import informative_groups
from video_ktr.trainer.scoring import score_rewards


def pad_cat(parts: list[Tensor], value) -> Tensor:
    """Concatenate (n_i, T_i) tensors along rows, right-padding to the longest T with ``value``."""
    t = max(x.shape[1] for x in parts)
    return torch.cat([F.pad(x, (0, t - x.shape[1]), value=value) for x in parts])


def merge_groups(trainer, batch: PromptBatch, ro: Rollout, total: Tensor, per: dict[str, Tensor], keep: Tensor,
                 extra: PromptBatch, extra_ro: Rollout, extra_total: Tensor, extra_per: dict[str, Tensor]):
    """The kept groups of (batch, ro) followed by every group of (extra, extra_ro): one batch, one rollout.

    keep: (B,) bool groups to keep. The prompts are re-encoded together (media reused); completions re-padded.
    """
    g = ro.group_size
    rows = keep.repeat_interleave(g)                                          # (N,)
    kept = [i for i, k in enumerate(keep.tolist()) if k]
    merged = trainer.data.encode([batch.records[i] for i in kept] + extra.records,
                                 media=[batch.media[i] for i in kept] + extra.media)
    model = trainer.passes.model
    pad = model.generation_config.pad_token_id
    new_ro = Rollout(repeat_rows(merged.inputs, g, model.config),
                     pad_cat([ro.completion_ids[rows], extra_ro.completion_ids], pad),
                     pad_cat([ro.completion_mask[rows], extra_ro.completion_mask], False),
                     torch.cat([ro.is_truncated[rows], extra_ro.is_truncated]),
                     [t for t, r in zip(ro.texts, rows.tolist()) if r] + extra_ro.texts, g)
    new_ro.validate()
    new_total = torch.cat([total[rows], extra_total])
    new_per = {k: torch.cat([per[k][rows], extra_per[k]]) for k in per}
    return merged, new_ro, new_total, new_per


def refill_counts(need: int, accelerator) -> list[int]:
    """Every rank's number of groups to refill this round (all-gathered; ``[need]`` on one process)."""
    if accelerator.num_processes == 1:
        return [need]
    return accelerator.gather(torch.tensor([need], device=accelerator.device)).tolist()


def refill_uninformative(trainer, batch: PromptBatch, ro: Rollout, total: Tensor, per: dict[str, Tensor], *,
                         max_rounds: int, seed=None):
    """Up to ``max_rounds`` times: draw as many new prompts as there are all-equal groups, roll them out, score them
    and swap them in. ``seed(round) -> int`` reseeds sampling per round. Returns (batch, ro, total (N,), per,
    rounds used)."""
    g = ro.group_size
    rounds = 0
    while rounds < max_rounds:
        keep = informative_groups(total, g).view(-1, g)[:, 0]                # (B,)
        counts = refill_counts(int((~keep).sum()), trainer.accelerator)
        if sum(counts) == 0:
            break
        rounds += 1
        if seed is not None:
            torch.manual_seed(seed(rounds))
        if counts[trainer.accelerator.process_index] == 0:
            trainer.data.take_shared(counts)                                  # (position moves on every rank)
            if trainer.passes.lockstep:                                       # another rank refills: keep the
                trainer.passes.generate(trainer.engine, trainer.data.encode(batch.records[:1], media=batch.media[:1]),
                                        g, trainer.processor.tokenizer)      # collectives in step
            continue
        extra = trainer.data.next_shared_batch(counts)
        extra_ro = trainer.passes.generate(trainer.engine, extra, g, trainer.processor.tokenizer)
        extra_total, extra_per = score_rewards(trainer.cfg, extra, extra_ro, None)
        batch, ro, total, per = merge_groups(trainer, batch, ro, total, per, keep, extra, extra_ro, extra_total,
                                             extra_per)
    return batch, ro, total, per, rounds

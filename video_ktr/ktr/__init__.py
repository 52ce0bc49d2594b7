"""Key-Token Reinforcement: chunked log-probs, counterfactual probes, token scores and key-token selection.

The trainer wires these together (METHOD §1):
``completion_forward`` (policy, with grad, entropy, cached vision features) → ``visual_probe_logprobs`` and a
temporal probe (``temporal_probe_logprobs`` on re-encoded frames, or ``fast_temporal_probe``) → scores
(entropy, ``counterfactual_score``) → ``select_key_tokens`` (built on ``top_ratio_mask``) → ``video_ktr.loss``.
"""
from video_ktr.ktr.logprobs import (DEFAULT_CHUNK, CompletionOutput, chunked_token_logprobs, completion_forward,
                                    completion_logprobs, full_sequence_inputs, naive_token_logprobs, run_completion,
                                    vision_token_ids)
from video_ktr.ktr.metrics import selection_metrics
from video_ktr.ktr.probes import (PERMUTATIONS, VISUAL_PROBES, drop_positions, fast_temporal_probe,
                                  make_frame_orders, patch_orders_to_frame_orders, permute_temporal_patches,
                                  temporal_probe_logprobs, visual_probe_logprobs)
from video_ktr.ktr.scores import (DISTANCES, MEASURES, counterfactual_score, distribution_distance, needs_hidden)
from video_ktr.ktr.selection import (IMAGE_SIGNALS, SIGNALS, WEIGHTINGS, group_quantile, group_rank_norm,
                                     constant_groups, select_key_tokens, signal_selections, top_ratio_mask)

__all__ = [
    "DEFAULT_CHUNK", "CompletionOutput", "chunked_token_logprobs", "completion_forward", "completion_logprobs",
    "full_sequence_inputs", "naive_token_logprobs", "run_completion", "vision_token_ids", "selection_metrics",
    "PERMUTATIONS", "VISUAL_PROBES", "drop_positions", "fast_temporal_probe", "make_frame_orders",
    "patch_orders_to_frame_orders", "permute_temporal_patches", "temporal_probe_logprobs", "visual_probe_logprobs",
    "DISTANCES", "MEASURES", "counterfactual_score", "distribution_distance", "needs_hidden",
    "IMAGE_SIGNALS", "SIGNALS", "WEIGHTINGS", "group_quantile", "group_rank_norm", "select_key_tokens",
    "signal_selections", "top_ratio_mask", "constant_groups",
]

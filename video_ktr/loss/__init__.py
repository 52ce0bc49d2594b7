"""Policy losses: the masked clipped objective with k3 KL, registered aggregations and importance ratios."""
from video_ktr.loss.aggregation import AGGREGATIONS, constant_norm, seq_mean_token_mean, token_mean
from video_ktr.loss.policy import IMPORTANCE_RATIOS, NORMALIZE_BY, k3_kl, policy_loss

__all__ = ["AGGREGATIONS", "IMPORTANCE_RATIOS", "NORMALIZE_BY", "constant_norm", "k3_kl", "policy_loss",
           "seq_mean_token_mean", "token_mean"]

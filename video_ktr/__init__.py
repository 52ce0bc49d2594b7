"""video-ktr: Key-Token Reinforcement post-training for video multimodal LLMs.

Stages, in data-flow order (a stage imports only the ones before it):
``data`` → ``rollout`` → ``rewards`` → ``ktr`` → ``loss`` → ``trainer``; plus ``eval``, ``analysis``, ``toy``, ``cli``.
"""

__version__ = "0.1.0"

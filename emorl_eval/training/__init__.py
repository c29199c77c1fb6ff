"""Training: ``train(TrainConfig) -> run folder``, with GECO (in the model), the refinement
curriculum, LR warm-up, gradient clipping, exact resume and DistributedDataParallel.

    >>> from emorl_eval.training import resolve_train_config, train
    >>> cfg = resolve_train_config("emorl", "data/tetrominoes.h5", "runs/t1", preset="tetrominoes",
    ...                            steps=1000, sets=["num_slots=5"])
    >>> train(cfg)                     # runs/t1/{config.json, metrics.csv, checkpoint_*.pt}
    >>> train(cfg, resume=True)        # continue from runs/t1/checkpoint_last.pt

Modules: ``config`` (TrainConfig, --set resolution), ``schedules`` (LR, curriculum), ``data``
(sharded resumable sampler), ``loop`` (the loop), ``checkpointing``, ``rng``, ``distributed``,
``metrics_log``.
"""

from emorl_eval.training.config import TrainConfig, resolve_train_config
from emorl_eval.training.loop import TrainingDiverged, TrainResult, train, train_until_stopped
from emorl_eval.training.schedules import lr_at, refinement_steps_at

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "train_until_stopped", "lr_at", "refinement_steps_at", "resolve_train_config", "train"]

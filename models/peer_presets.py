"""Presets of the comparison models (GENESIS, GENESIS-S, GENESIS-v2, Slot Attention, IODINE) per dataset.

``models.presets`` loads this table lazily for the names in :data:`PEER_MODELS` (see
:func:`register`). A preset is a dict of config-field overrides over the model's config dataclass
defaults; every preset of a model shares the model's training defaults, which the trainer reads
(``steps``, ``batch_size``, ``lr``, ``warmup_steps``, ``clip_grad_norm``,
``refinement_curriculum``; IODINE's curriculum is the preset's fixed I). Sources:

* GENESIS: the official GENESIS flags (applied-ai-lab/genesis: K_steps per dataset, GMM sigma
  0.7, GECO goal 0.5655 per pixel-channel *with* the 0.5 log 2 pi constant -> -0.3534 in our
  constant-free NLL, GECO lr 1e-5, Adam 1e-4, batch 32, 500K steps). ``textured_dsprites`` is
  EfficientMORL appendix B.1: the Gaussian likelihood, sigma 0.1, and a 10x slower GECO update
  (the appendix gives no number; 1e-6 is our choice), goal -2.206 per pixel-channel (the value
  EMORL uses at sigma 0.1 on CLEVR6). ``<dataset>_gaussian`` / ``<dataset>_gmm`` switch the
  likelihood.
* GENESIS-v2: the official settings (K=5 Multi-dSprites, 7 ObjectsRoom, 9 ShapeStacks, 10 at
  128 px for Sketchy / APC; GMM sigma 0.7, GECO goal 0.5655 per pixel-channel with the constant,
  which GENESIS-v2's ``nll`` includes like the official ``err``; Adam 1e-4, batch 32).
* Slot Attention: the EfficientMORL repository's SlotAttention configs (K, D, decoder per dataset,
  Adam 4e-4, batch 64, 500K steps) and the Slot Attention paper's 10K-step warm-up.
* ``tetrominoes_cpu`` (GENESIS, GENESIS-S, GENESIS-v2, Slot Attention): departures from the papers that learn
  on a 2-core CPU (``models.presets.CPU_TRAINING``: batch 16, 500-step warm-up (GENESIS: 200),
  lr 4e-4, 10K steps); the zoo's Slot Attention was trained with it (GENESIS's did not decompose
  the scenes within an hour on one core: README, "Model zoo"). GENESIS and GENESIS-S also halve
  the mask and component network widths (``_GENESIS_CPU_WIDTHS``: 2.0M / 1.8M parameters instead
  of 5.3M / 5.0M; measured 1.6 vs 0.6 steps/s on one core). GENESIS-v2's also replaces the
  pixel-wise mixture by the Gaussian of the summed reconstruction (measured: the mixture did not
  decompose, the Gaussian did; the comment at its preset and ``docs/peers_cpu_learning.md``).
* IODINE: pemami4911/IODINE.pytorch (the implementation behind EMORL appendix E.3): 5 decoded
  iterations (I = 4 refinement updates), GMM sigma 0.1, Adam 4e-4, batch 32, 500K steps.
"""

from __future__ import annotations

import copy
import math
from typing import Any

#: datasets -> (image size, K) shared by every model's presets
_DATASETS: dict[str, tuple[tuple[int, int], int]] = {
    "tetrominoes": ((35, 35), 4),
    "multi_dsprites": ((64, 64), 6),
    "clevr6": ((96, 96), 7),
    "textured_dsprites": ((64, 64), 6),
}

_GMM_07_GOAL = 0.5655 - 0.5 * math.log(2 * math.pi)  # official goal, constant removed
_GAUSS_01 = {"likelihood": "gaussian", "sigma": 0.1, "geco_goal": -2.206}
_GMM_07 = {"likelihood": "gmm", "sigma": 0.7, "geco_goal": _GMM_07_GOAL, "geco_lr": 1e-5}


#: half of the official widths (mask_channels 32, mask_feature_dim 256, component nets 32)
_GENESIS_CPU_WIDTHS = {"mask_channels": 16, "mask_feature_dim": 128, "comp_enc_channels": 16, "comp_dec_channels": 16}


def _genesis_presets(two_stage: bool) -> dict[str, dict[str, Any]]:
    presets: dict[str, dict[str, Any]] = {}
    for name, (size, k) in _DATASETS.items():
        base = {"num_slots": k, "image_size": size, "two_stage": two_stage}
        if name == "textured_dsprites":
            presets[name] = {**base, **_GAUSS_01, "geco_lr": 1e-6}
            presets[f"{name}_gmm"] = {**base, **_GMM_07}
        else:
            presets[name] = {**base, **_GMM_07}
            presets[f"{name}_gaussian"] = {**base, **_GAUSS_01, "geco_lr": 1e-6}
    # CPU-trainable departure (EMORL appendix B.1's Gaussian sigma 0.1, no GECO; half-width mask and
    # component networks, 2.6x the steps/s on one core)
    presets["tetrominoes_cpu"] = {**presets["tetrominoes_gaussian"], "use_geco": False, **_GENESIS_CPU_WIDTHS}
    # for tests and smoke runs: 16x16 images, 3 slots, small latents
    presets["tiny"] = {
        "num_slots": 3, "image_size": (16, 16), "two_stage": two_stage,
        "mask_latent_dim": 8, "comp_latent_dim": 4, "mask_channels": 8, "mask_feature_dim": 32,
        "comp_enc_channels": 8, "comp_dec_channels": 8, **_GMM_07,
    }
    return presets


#: GENESIS-v2: the official settings (README of applied-ai-lab/genesis: same hyper-parameters, K per
#: dataset; 64 px models 2,729,422 parameters, 128 px 2,840,270)
_GENESIS_V2_PRESETS: dict[str, dict[str, Any]] = {
    "multi_dsprites": {"num_slots": 5, "image_size": (64, 64)},
    "objects_room": {"num_slots": 7, "image_size": (64, 64)},
    "shapestacks": {"num_slots": 9, "image_size": (64, 64)},
    "sketchy": {"num_slots": 10, "image_size": (128, 128)},
    "apc": {"num_slots": 10, "image_size": (128, 128)},
    # CPU-trainable departure: our 35 px Tetrominoes, half width (feat_dim 32), sigma 0.1, no GECO, and
    # the Gaussian likelihood of the summed reconstruction (EMORL appendix B.1's likelihood for
    # GENESIS) instead of the official pixel-wise mixture. Measured (docs/peers_cpu_learning.md, seed
    # 1, one thread beside two other runs, FG-ARI on 100 test images): with the official GMM at sigma
    # 0.1 the decoder's masks stayed vertical stripes and the reconstruction the mean image (FG-ARI
    # 0.13-0.16, MSE 0.046 from 500 to 2,699 steps, KL ~15 nats: each pixel's best component scores
    # well whatever the masks); with the Gaussian the slots took objects (FG-ARI 0.37 at 1,000
    # steps, 0.53 at 2,500) and the KL rose to ~150 nats. IC-SBP and the autoregressive prior are kept.
    "tetrominoes_cpu": {"num_slots": 4, "image_size": (35, 35), "feat_dim": 32, "sigma": 0.1, "use_geco": False,
                        "likelihood": "gaussian"},
    # for tests and smoke runs
    "tiny": {"num_slots": 3, "image_size": (32, 32), "feat_dim": 16},
}

_GENESIS_TRAINING = {
    "steps": 500_000,
    "batch_size": 32,
    "lr": 1e-4,
    "warmup_steps": 0,
    "clip_grad_norm": None,
    "refinement_curriculum": [],
}

_SLOT_ATTENTION_PRESETS: dict[str, dict[str, Any]] = {
    "tetrominoes": {"num_slots": 4, "latent_dim": 32, "image_size": (35, 35), "decoder": "small"},
    # CPU-trainable departure: a 32-wide encoder and standard init (models.components.init)
    "tetrominoes_cpu": {"num_slots": 4, "latent_dim": 32, "image_size": (35, 35), "decoder": "small",
                        "encoder_channels": 32, "mlp_hidden": 64, "init": "standard"},
    "multi_dsprites": {"num_slots": 6, "latent_dim": 64, "image_size": (64, 64), "decoder": "small"},
    "clevr6": {"num_slots": 7, "latent_dim": 64, "image_size": (96, 96), "decoder": "big"},
    "textured_dsprites": {"num_slots": 6, "latent_dim": 64, "image_size": (64, 64), "decoder": "small"},
    # for tests and smoke runs
    "tiny": {
        "num_slots": 3, "latent_dim": 16, "image_size": (16, 16), "decoder": "small",
        "encoder_channels": 16, "mlp_hidden": 32,
    },
}
_SLOT_ATTENTION_TRAINING = {
    "steps": 500_000,
    "batch_size": 64,
    "lr": 4e-4,
    "warmup_steps": 10_000,
    "clip_grad_norm": None,
    "refinement_curriculum": [],
    # Slot Attention's schedule: lr * 0.5 ** (step / 100K) after the warm-up
    "lr_decay_rate": 0.5,
    "lr_decay_steps": 100_000,
}

_IODINE_PRESETS: dict[str, dict[str, Any]] = {
    "tetrominoes": {"num_slots": 4, "latent_dim": 32, "image_size": (35, 35)},
    "multi_dsprites": {"num_slots": 6, "latent_dim": 64, "image_size": (64, 64)},
    "clevr6": {"num_slots": 7, "latent_dim": 64, "image_size": (96, 96)},
    "textured_dsprites": {"num_slots": 6, "latent_dim": 64, "image_size": (64, 64)},
    # for tests and smoke runs
    "tiny": {
        "num_slots": 3, "latent_dim": 8, "image_size": (16, 16), "refinement_steps": 2,
        "decoder_channels": 8, "refine_channels": 8, "lstm_dim": 16,
    },
}
_IODINE_TRAINING = {
    "steps": 500_000,
    "batch_size": 32,
    "lr": 4e-4,
    "warmup_steps": 0,
    "clip_grad_norm": None,
    "refinement_curriculum": [],  # per preset: [[0, I]] with the preset's I (see register)
}

#: model name -> (presets, training defaults shared by its presets, default preset)
PEER_MODELS: dict[str, tuple[dict[str, dict[str, Any]], dict[str, Any], str]] = {
    "genesis": (_genesis_presets(True), _GENESIS_TRAINING, "multi_dsprites"),
    "genesis_s": (_genesis_presets(False), _GENESIS_TRAINING, "multi_dsprites"),
    "genesis_v2": (_GENESIS_V2_PRESETS, _GENESIS_TRAINING, "multi_dsprites"),
    "slot_attention": (_SLOT_ATTENTION_PRESETS, _SLOT_ATTENTION_TRAINING, "clevr6"),
    "iodine": (_IODINE_PRESETS, _IODINE_TRAINING, "clevr6"),
}


def register(name: str) -> None:
    """Register peer model ``name``'s presets with :mod:`models.presets` (called lazily by it)."""
    from emorl_eval.models.presets import register_presets

    from emorl_eval.models.presets import CPU_TRAINING

    presets, training, default = PEER_MODELS[name]
    per_preset = {preset: copy.deepcopy(training) for preset in presets}
    if "tetrominoes_cpu" in per_preset:
        per_preset["tetrominoes_cpu"].update(copy.deepcopy(CPU_TRAINING))
        if name in ("genesis", "genesis_s", "genesis_v2"):
            per_preset["tetrominoes_cpu"]["warmup_steps"] = 200
    if name == "iodine":  # trained with its preset's I throughout
        from emorl_eval.models.iodine import IODINEConfig

        for preset, values in presets.items():
            steps = values.get("refinement_steps", IODINEConfig.refinement_steps)
            per_preset[preset]["refinement_curriculum"] = [[0, int(steps)]]
    register_presets(name, copy.deepcopy(presets), per_preset, default=default)

"""Official GENESIS / GENESIS-v2 checkpoints (applied-ai-lab/genesis ``train.py``) -> our models.

What the official trainer writes (``checkpoints/<run>/<n>/model.ckpt-<iter>|-latest|-FINAL``, a
legacy non-zip pickle, tensors saved on the GPU)::

    {"model_state_dict": {...}, "optimiser_state_dict": {...} (Adam), "beta": 0-dim tensor,
     "iter_idx": int, "err_ema": 0-dim tensor (once GECO has run a step)}

The file holds no architecture: it comes from the run's ``flags.json`` (written beside the
checkpoints by forge), or from a flags file given explicitly. ``img_size`` / ``K_steps`` of -1
(``multi_object_config``) are resolved from ``dataset`` as the official data loader does.

Mapping (strict: every tensor of the file is used, nothing of ours is left unset):

* GENESIS (``genesis_config.py``; ``two_stage=False`` -> our ``genesis_s``): keys are renamed to
  our module names (:func:`genesis_key`); the broadcast decoder's first conv has its two
  coordinate input channels swapped (official ``[z, y, x]``, ours ``[z, x, y]``); the ``std``
  buffer ``[1, 1, 1, 1, K]`` must equal ``pixel_std1, pixel_std2, ...`` of the flags and gives
  our ``sigma_first`` / ``sigma`` (its float32 values, as the official forward uses); the legacy buffers ``comp_vae.decoder_module.seq.0.pixel_coords.g_1|g_2``
  (files before March 2020) are dropped as the official scripts drop them.
* GENESIS-v2 (``genesisv2_config.py``): our module names are the official ones (identity).
* ``beta`` and ``err_ema`` become the GECO buffers ``geco_beta`` / ``geco_err_ema``.

Loaded models report what the official forward reports: ``nll`` is the official ``err`` (with the
Gaussian constant, ``nll_constant=True``) and ``kl`` the sum of the official Monte-Carlo KL terms
(``montecarlo_kl=True``). A flag value this code does not implement is one line naming the flag.
Every problem is a one-line :class:`emorl_eval.errors.CheckpointError`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: file name of the flags forge writes beside the checkpoints
FLAGS_NAME = "flags.json"
#: official model config file name -> our registry name (GENESIS: two_stage picks genesis_s)
MODEL_CONFIGS = {"genesis_config.py": "genesis", "genesisv2_config.py": "genesis_v2"}
#: ``dataset`` -> (img_size, K_steps) used when the flags hold -1 (official multi_object_config)
DATASET_DEFAULTS = {"multi_dsprites": (64, 5), "objects_room": (64, 7), "clevr": (128, 11), "tetrominoes": (32, 4)}
#: buffers of files written before March 2020 that the official loaders pop
LEGACY_KEYS = ("comp_vae.decoder_module.seq.0.pixel_coords.g_1", "comp_vae.decoder_module.seq.0.pixel_coords.g_2")
#: image sizes the official networks accept
OFFICIAL_SIZES = (32, 64, 128, 256)


def _error(message: str) -> Exception:
    from emorl_eval.errors import CheckpointError

    return CheckpointError(message)


def is_official_genesis(obj: Any) -> bool:
    """Whether a loaded object has the layout of the official GENESIS ``train.py`` checkpoints."""
    return isinstance(obj, dict) and isinstance(obj.get("model_state_dict"), dict) and "format" not in obj


def flags_path(ckpt: Path, flags: str | Path | None = None) -> Path:
    """The flags file of official checkpoint ``ckpt``: ``flags`` when given, else ``flags.json``
    beside it (an official run folder)."""
    if flags is not None:
        path = Path(flags)
        if not path.is_file():
            raise _error(f"flags file {path} does not exist")
        return path
    path = Path(ckpt).parent / FLAGS_NAME
    if not path.is_file():
        raise _error(f"{ckpt} is an official GENESIS checkpoint but there is no {FLAGS_NAME} beside it "
                     f"(official run folders have one): give the run's flags with --flags FILE.json")
    return path


def read_flags(path: str | Path) -> dict[str, Any]:
    """The flags dict of ``path``; one line when it is not a JSON object."""
    path = Path(path)
    try:
        flags = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(f"flags file {path} is not readable JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(flags, dict):
        raise _error(f"flags file {path} holds a {type(flags).__name__}, expected a JSON object of flags")
    return flags


def _need(flags: dict[str, Any], key: str, source: Path) -> Any:
    if key not in flags:
        raise _error(f"flags file {source} lacks flag {key!r} (not an official GENESIS flags.json?)")
    return flags[key]


def _unsupported(source: Path, flag: str, value: Any, supported: str) -> Exception:
    return _error(f"flags file {source}: {flag}={value!r} is not supported (supported: {supported})")


def resolve_sizes(flags: dict[str, Any], source: Path) -> tuple[int, int]:
    """(img_size, K_steps), -1 resolved from ``dataset`` as the official data loader does."""
    img, k = int(_need(flags, "img_size", source)), int(_need(flags, "K_steps", source))
    if img < 0 or k < 0:
        dataset = flags.get("dataset")
        if dataset not in DATASET_DEFAULTS:
            raise _error(f"flags file {source}: img_size={img}, K_steps={k} need a dataset to resolve them, "
                         f"got dataset={dataset!r} (known: {', '.join(DATASET_DEFAULTS)})")
        default_img, default_k = DATASET_DEFAULTS[dataset]
        img, k = (default_img if img < 0 else img), (default_k if k < 0 else k)
    if img not in OFFICIAL_SIZES:
        raise _unsupported(source, "img_size", img, ", ".join(map(str, OFFICIAL_SIZES)))
    if k < 2:
        raise _unsupported(source, "K_steps", k, ">= 2")
    return img, k


def _geco_fields(flags: dict[str, Any]) -> dict[str, Any]:
    """GECO settings of train.py; goals include the Gaussian constant like the official ``err``."""
    return {
        "use_geco": bool(flags.get("geco", True)),
        "geco_goal": float(flags.get("g_goal", 0.5655)),
        "geco_lr": float(flags.get("g_lr", 1e-5)),
        "geco_alpha": float(flags.get("g_alpha", 0.99)),
        "geco_speedup": float(flags.get("g_speedup", 10.0)),
        "geco_beta_init": float(flags.get("g_init", 1.0)),
        "kl_beta": float(flags.get("beta", 1.0)),
    }


def _check_common(flags: dict[str, Any], source: Path) -> None:
    if not flags.get("pixel_bound", True):
        raise _unsupported(source, "pixel_bound", flags["pixel_bound"], "true")
    if int(flags.get("input_channels", 3)) != 3:
        raise _unsupported(source, "input_channels", flags["input_channels"], "3")


def config_from_flags(flags: dict[str, Any], source: Path) -> tuple[str, dict[str, Any]]:
    """(our model name, config fields) for the official flags (``source`` names the file in errors)."""
    model_config = Path(str(_need(flags, "model_config", source))).name
    if model_config not in MODEL_CONFIGS:
        raise _error(f"flags file {source}: model_config {flags['model_config']!r} is not GENESIS or GENESIS-v2 "
                     f"(expected models/genesis_config.py or models/genesisv2_config.py)")
    img, k = resolve_sizes(flags, source)
    _check_common(flags, source)
    std1, std2 = float(flags.get("pixel_std1", 0.7)), float(flags.get("pixel_std2", 0.7))
    common = {"num_slots": k, "image_size": (img, img), "autoreg_prior": bool(flags.get("autoreg_prior", True)),
              "nll_constant": True, **_geco_fields(flags)}
    if MODEL_CONFIGS[model_config] == "genesis_v2":
        if std1 != std2:
            raise _unsupported(source, "pixel_std1", std1, f"= pixel_std2 ({std2}), as the official GENESIS-v2 asserts")
        for flag, ok in (("dynamic_K", False), ("klm_loss", False)):
            if bool(flags.get(flag, False)) != ok:
                raise _unsupported(source, flag, flags[flag], str(ok).lower())
        kernel = flags.get("kernel", "gaussian")
        if kernel not in ("gaussian", "laplacian", "epanechnikov"):
            raise _unsupported(source, "kernel", kernel, "gaussian, laplacian, epanechnikov")
        feat = int(flags.get("feat_dim", 64))
        if feat > 64 or feat % 8:
            raise _unsupported(source, "feat_dim", feat, "multiples of 8 up to 64")
        return "genesis_v2", {**common, "feat_dim": feat, "kernel": kernel, "semiconv": bool(flags.get("semiconv", True)),
                              "sigma": std2, "montecarlo_kl": True}
    if not flags.get("montecarlo_kl", True):
        raise _unsupported(source, "montecarlo_kl", flags["montecarlo_kl"], "true (the official GENESIS asserts it)")
    if flags.get("comp_symmetric", False):  # absent in old flags.json: False
        raise _unsupported(source, "comp_symmetric", flags["comp_symmetric"], "false")
    enc_norm, dec_norm = flags.get("enc_norm", "bn"), flags.get("dec_norm", "bn")
    enc_norm, dec_norm = ("none" if n is None else n for n in (enc_norm, dec_norm))
    if enc_norm not in ("bn", "none") or dec_norm != enc_norm:
        flag, value = ("enc_norm", enc_norm) if enc_norm not in ("bn", "none") else ("dec_norm", dec_norm)
        raise _unsupported(source, flag, value, "bn or none, the same for enc_norm and dec_norm")
    two_stage = bool(flags.get("two_stage", True))
    fields = {**common, "two_stage": two_stage, "montecarlo_kl": True, "likelihood": "gmm", "sigma": std2,
              "sigma_first": std1 if std1 != std2 else None, "norm": enc_norm,
              "mask_latent_dim": int(flags.get("attention_latents", 64)),
              "mask_channels": 32, "mask_feature_dim": 256,
              "comp_prior": bool(flags.get("comp_prior", True)) and two_stage}
    if two_stage:
        fields.update(comp_latent_dim=int(flags.get("comp_ldim", 16)),
                      comp_enc_channels=int(flags.get("comp_enc_channels", 32)))
    fields.update(comp_dec_channels=int(flags.get("comp_dec_channels", 32)),
                  comp_dec_layers=int(flags.get("comp_dec_layers", 4)))
    return ("genesis" if two_stage else "genesis_s"), fields


# --- state-dict mapping ------------------------------------------------------------------------
_GENESIS_RULES: tuple[tuple[str, str], ...] = (
    (r"att_process\.core\.q_z_nn\.(\d+)\.(.+)", r"mask_vae.encoder.\1.\2"),
    (r"att_process\.core\.q_z_mean\.(.+)", r"q_mean.\1"),
    (r"att_process\.core\.q_z_var\.0\.(.+)", r"q_std.\1"),
    (r"att_process\.core\.p_x_nn\.(\d+)\.(.+)", r"mask_vae.decoder.\1.\2"),
    (r"att_process\.core\.p_x_mean\.(.+)", r"mask_vae.decoder.6.\1"),
    (r"att_process\.lstm\.(weight|bias)_(ih|hh)_l0", r"post_lstm.\1_\2"),
    (r"att_process\.linear\.(.+)", r"post_head.\1"),
    (r"comp_vae\.encoder_module\.module\.(\d+)\.(.+)", r"comp_encoder.net.\1.\2"),
    (r"prior_lstm\.(weight|bias)_(ih|hh)_l0", r"prior_lstm.\1_\2"),
    (r"prior_linear\.(.+)", r"prior_head.\1"),
    (r"prior_mlp\.(.+)", r"comp_prior_mlp.\1"),
)
#: the broadcast decoder: official ``seq.<i>`` (``seq.0`` is the parameter-free broadcast layer)
_DECODER = re.compile(r"(?:comp_vae\.decoder_module|decoder)\.seq\.(\d+)\.(.+)")


def genesis_key(key: str) -> str | None:
    """Official GENESIS state-dict key -> ours (None for a key this mapping does not know)."""
    for pattern, repl in _GENESIS_RULES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    match = _DECODER.fullmatch(key)
    if match and int(match.group(1)) >= 1:
        return f"comp_decoder.net.{int(match.group(1)) - 1}.{match.group(2)}"
    return None


def sigmas_from_state(name: str, state: dict[str, Tensor], fields: dict[str, Any], source: Path) -> dict[str, Any]:
    """GENESIS: ``fields`` with ``sigma`` / ``sigma_first`` taken from the file's ``std`` buffer
    ``[1, 1, 1, 1, K]`` (its float32 values, as the official forward uses them) after checking it
    against the flags' K_steps and pixel_std1/2; GENESIS-v2 (no buffer): ``fields`` unchanged."""
    if name == "genesis_v2":
        return fields
    value = state.get("std")
    if value is None:
        raise _error(f"checkpoint {source}: no buffer 'std' (every official GENESIS file has it)")
    k = fields["num_slots"]
    expected = torch.full((1, 1, 1, 1, k), float(fields["sigma"]))
    if fields.get("sigma_first") is not None:
        expected[..., 0] = float(fields["sigma_first"])
    if tuple(value.shape) != (1, 1, 1, 1, k) or not torch.allclose(value.float().cpu(), expected):
        raise _error(f"checkpoint {source}: buffer 'std' {list(value.shape)} = {value.flatten().tolist()} "
                     f"does not match the flags (K_steps={k}, pixel_std1/2 -> {expected.flatten().tolist()})")
    std = value.flatten().tolist()
    return {**fields, "sigma": std[-1], "sigma_first": std[0] if std[0] != std[-1] else None}


def map_genesis_state(state: dict[str, Tensor], source: Path) -> dict[str, Tensor]:
    """Official GENESIS tensors -> our names (see the module docstring); ``std`` (already read by
    :func:`sigmas_from_state`) and the legacy pixel-coordinate buffers are not model tensors."""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if key in LEGACY_KEYS or key == "std":
            continue
        new = genesis_key(key)
        if new is None:
            raise _error(f"checkpoint {source}: unknown official GENESIS key {key!r}")
        if _DECODER.fullmatch(key) and key.endswith("seq.1.weight"):
            value = value.clone()
            value[:, [-2, -1]] = value[:, [-1, -2]]  # official coords (y, x) -> ours (x, y)
        mapped[new] = value
    return mapped


def map_state(name: str, state: dict[str, Tensor], source: Path) -> dict[str, Tensor]:
    """Official state dict -> ours for our model ``name`` (``genesis``, ``genesis_s``, ``genesis_v2``)."""
    if name == "genesis_v2":
        return dict(state)
    return map_genesis_state(state, source)


def geco_state(ckpt: dict[str, Any], source: Path) -> dict[str, Tensor]:
    """``beta`` / ``err_ema`` of the file as our GECO buffers (``err_ema`` NaN before GECO's first step)."""
    out = {}
    for key, ours in (("beta", "geco_beta"), ("err_ema", "geco_err_ema")):
        value = ckpt.get(key)
        if value is None and key == "err_ema":
            value = torch.tensor(float("nan"))
        if value is None:
            raise _error(f"checkpoint {source}: no {key!r} (official train.py writes it)")
        try:
            out[ours] = torch.as_tensor(value, dtype=torch.float32).detach().cpu().reshape(())
        except (TypeError, ValueError, RuntimeError):
            raise _error(f"checkpoint {source}: {key!r} is not a number ({type(value).__name__})") from None
    return out

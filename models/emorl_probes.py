"""EfficientMORL's symmetry probes (appendix A): pure functions of explicit inputs and noise.

Slot-equivariance probes (slot axis at dim 1 for every non-fixed input/output):
``posterior_layer``, ``prior``, ``refinement``, ``inference`` (the whole forward pass with
explicit z0, per-layer, prior and refinement noise), ``decoder`` (per-slot outputs; the image
is invariant) and ``loss`` (loss, NLL, KL invariant). The input-order probe permutes the N
flattened encoder features and expects the bottom-up posterior to be unchanged (A.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from emorl_eval.models.components import softplus_to_std
from emorl_eval.models.interface import EquivarianceProbe

if TYPE_CHECKING:
    from emorl_eval.models.efficient_morl import EfficientMORL


def _like(model: "EfficientMORL") -> dict:
    p = model.init_posterior
    return {"dtype": p.dtype, "device": p.device}


def _randn(generator: torch.Generator, *shape: int, like: dict) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=like["dtype"]).to(like["device"])


def _rand(generator: torch.Generator, *shape: int, like: dict) -> Tensor:
    return torch.rand(shape, generator=generator, dtype=like["dtype"]).to(like["device"])


def _noise_inputs(model: "EfficientMORL", batch_size: int, generator: torch.Generator) -> dict[str, Tensor]:
    like = _like(model)
    k, d, n_layers, n_steps = model.num_slots, model.latent_dim, model.config.num_layers, model.config.refinement_steps
    return {
        "noise_z0": _randn(generator, batch_size, k, d, like=like),
        "noise_layers": _randn(generator, batch_size, k, n_layers, d, like=like),
        "noise_prior": _randn(generator, batch_size, k, max(n_layers - 1, 0), d, like=like),
        "noise_refine": _randn(generator, batch_size, k, n_steps, d, like=like),
    }


def _image(model: "EfficientMORL", batch_size: int, generator: torch.Generator) -> Tensor:
    h, w = model.image_size
    return _rand(generator, batch_size, 3, h, w, like=_like(model))


def equivariance_probes(model: "EfficientMORL") -> list[EquivarianceProbe]:
    """The slot-symmetry probes of ``model`` (see module docstring)."""
    from emorl_eval.models.efficient_morl import EMORLNoise

    k, d = model.num_slots, model.latent_dim

    # --- one bottom-up posterior layer ---------------------------------------------------------
    def posterior_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        feats = model.encoder.project(model.encode_features(inp["image"]))
        keys, values = model.layer.attention.keys_values(feats)
        mu, s, attn = model.layer(inp["z_prev"], inp["mu_prev"], inp["s_prev"], keys, values)
        z = mu + softplus_to_std(s) * inp["noise"]
        return {"mu": mu, "s": s, "z": z, "attention": attn}

    def posterior_inputs(b: int, g: torch.Generator) -> dict[str, Tensor]:
        like = _like(model)
        return {"image": _image(model, b, g), "z_prev": _randn(g, b, k, d, like=like),
                "mu_prev": _randn(g, b, k, d, like=like), "s_prev": _randn(g, b, k, d, like=like),
                "noise": _randn(g, b, k, d, like=like)}

    # --- hierarchical prior ---------------------------------------------------------------------
    def prior_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        mu, s = model.prior(inp["z"])
        return {"mu": mu, "s": s}

    def prior_inputs(b: int, g: torch.Generator) -> dict[str, Tensor]:
        return {"z": _randn(g, b, k, d, like=_like(model))}

    # --- refinement update ----------------------------------------------------------------------
    def refine_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        feats = model.refinement.normalize_gradients(inp["grad"])
        delta, hidden = model.refinement(inp["lam"], feats, inp["hidden"])
        return {"delta": delta, "hidden": hidden}

    def refine_inputs(b: int, g: torch.Generator) -> dict[str, Tensor]:
        like = _like(model)
        return {"lam": _randn(g, b, k, 2 * d, like=like), "grad": _randn(g, b, k, 2 * d, like=like),
                "hidden": _randn(g, b, k, d, like=like)}

    # --- full inference with explicit noise -----------------------------------------------------
    def inference_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        out = model(inp["image"], noise=EMORLNoise.from_dict(inp))
        return {"latents": out.latents, "masks": out.masks, "components": out.components,
                "recon": out.recon, "nll": out.nll, "kl": out.kl}

    def loss_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        out = model(inp["image"], noise=EMORLNoise.from_dict(inp))
        return {"loss": out.loss, "nll": out.nll, "kl": out.kl}

    def inference_inputs(b: int, g: torch.Generator) -> dict[str, Tensor]:
        return {"image": _image(model, b, g), **_noise_inputs(model, b, g)}

    # --- decoder ----------------------------------------------------------------------------------
    def decoder_fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        scene = model.decode(inp["z"])
        return {"masks": scene.masks, "components": scene.components, "mask_logits": scene.mask_logits,
                "recon": scene.recon}

    return [
        EquivarianceProbe("posterior_layer", posterior_fn, posterior_inputs, fixed_keys=("image",)),
        EquivarianceProbe("prior", prior_fn, prior_inputs),
        EquivarianceProbe("refinement", refine_fn, refine_inputs),
        EquivarianceProbe("inference", inference_fn, inference_inputs, fixed_keys=("image",),
                          invariant_keys=("recon", "nll", "kl")),
        EquivarianceProbe("decoder", decoder_fn, prior_inputs, invariant_keys=("recon",)),
        EquivarianceProbe("loss", loss_fn, inference_inputs, fixed_keys=("image",),
                          invariant_keys=("loss", "nll", "kl")),
    ]


def input_order_probe(model: "EfficientMORL") -> EquivarianceProbe:
    """Permuting the N positionally-encoded features must leave the bottom-up posterior unchanged."""

    def fn(inp: dict[str, Tensor]) -> dict[str, Tensor]:
        posteriors, _ = model.bottom_up(inp["features"], inp["noise_z0"], inp["noise_layers"])
        return {"mu": posteriors[-1].mu, "s": posteriors[-1].s}

    def make_inputs(b: int, g: torch.Generator) -> dict[str, Tensor]:
        noise = _noise_inputs(model, b, g)
        with torch.no_grad():
            feats = model.encode_features(_image(model, b, g))
        return {"features": feats, "noise_z0": noise["noise_z0"], "noise_layers": noise["noise_layers"]}

    return EquivarianceProbe("input_order", fn, make_inputs, fixed_keys=("noise_z0", "noise_layers"),
                             invariant_keys=("mu", "s"))

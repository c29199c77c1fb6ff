"""Soft K-means slots: a compact object-centric baseline, written as an emorl-eval plug-in.

Each pixel is a point ``f(x) = [w_c * rgb(x), w_p * xy(x)]`` (colour and position, ``xy`` in
``[-1, 1]``); K cluster centres start from a learned Gaussian plus explicit noise and are moved by
``iterations`` rounds of soft K-means (responsibilities ``softmax_k(-|f(x) - c_k|^2 / T)``, centres
the responsibility-weighted means). The learned parameters are the two feature weights, the
temperature T and the centres' initial Gaussian: a handful of numbers, trained by gradient
descent through the clustering on a Gaussian likelihood of the image.

What it returns, in emorl-eval's terms (``emorl_eval.models.interface``):

* ``masks [B, K, 1, H, W]``: the final responsibilities (they sum to 1 over K);
* ``components [B, K, 3, H, W]``: each cluster's mean colour, constant over the image;
* ``recon = sum_k masks_k * components_k``; ``nll`` the Gaussian NLL (``sigma``), ``kl`` zero;
* ``latents [B, K, 6]``: per slot ``[mean r, g, b, mean x, mean y, log spatial spread]``, the
  cluster's statistics (what DCI reads);
* ``decode(z)`` renders each slot as a 2-D Gaussian blob of its colour at its position with its
  spread (masks = softmax over K of the blobs' log densities): a generative view of the latents;
* ``sample_prior`` draws blobs from a fixed, uninformed prior (uniform colour and position,
  log-normal spread): the model has no learned scene prior.

The clustering treats slots and pixels as sets, so the model claims slot permutation
equivariance and pixel-order invariance; its probes let ``emorl-eval symmetry`` check both.

Use it from the command line after ``pip install -e examples/my_model`` as ``--model kmeans``
(the entry point in this package's pyproject.toml), or without installing as
``--model my_model.kmeans:SoftKMeans`` with ``examples/my_model`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from emorl_eval.errors import ConfigError
from emorl_eval.models.interface import DecodedScene, EquivarianceProbe, ModelOutput, ObjectCentricModel, StageOutput

#: per-slot latent: mean colour (3), mean position (2), log spatial spread (1)
LATENT_DIM = 6
#: per-pixel feature: weighted colour (3), weighted position (2)
FEATURE_DIM = 5
_EPS = 1e-6


@dataclass
class SoftKMeansConfig:
    """Hyper-parameters of :class:`SoftKMeans` (defaults = the Tetrominoes setting)."""

    num_slots: int = 4
    image_size: tuple[int, int] = (35, 35)
    #: rounds of soft K-means per forward pass
    iterations: int = 8
    #: standard deviation of the Gaussian likelihood (per pixel and channel)
    sigma: float = 0.1
    #: initial temperature T of the responsibilities (learned)
    init_temperature: float = 0.05
    #: initial weight w_p of position against colour (w_c starts at 1; both learned)
    init_position_weight: float = 0.5

    def __post_init__(self) -> None:
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"image_size must be (H, W), got {self.image_size}")
        if self.num_slots < 1 or self.iterations < 1:
            raise ConfigError("num_slots and iterations must be positive")
        if min(self.sigma, self.init_temperature, self.init_position_weight) <= 0:
            raise ConfigError("sigma, init_temperature and init_position_weight must be positive")


_TRAINING = {"steps": 1000, "batch_size": 16, "lr": 1e-2, "warmup_steps": 0, "clip_grad_norm": 5.0,
             "refinement_curriculum": []}


def _noise(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise on ``like``'s device/dtype, drawn from ``generator``'s device."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


class SoftKMeans(ObjectCentricModel):
    """Soft K-means over colour-and-position pixel features (see the module docstring)."""

    model_name: ClassVar[str] = "kmeans"
    config_class: ClassVar[type] = SoftKMeansConfig
    # optional: presets the toolkit's --preset picks from, their training defaults, the default
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tetrominoes": {"image_size": (35, 35), "num_slots": 4},
        "multi_dsprites": {"image_size": (64, 64), "num_slots": 6},
        "clevr6": {"image_size": (96, 96), "num_slots": 7},
        "tiny": {"image_size": (16, 16), "num_slots": 3, "iterations": 3},  # for tests (16x16, K=3)
    }
    training_presets: ClassVar[dict[str, dict[str, Any]]] = {name: dict(_TRAINING) for name in presets}
    default_preset: ClassVar[str] = "tetrominoes"

    def __init__(self, config: SoftKMeansConfig) -> None:
        super().__init__(config)
        self.log_colour_weight = nn.Parameter(torch.zeros(()))
        self.log_position_weight = nn.Parameter(torch.tensor(math.log(config.init_position_weight)))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.init_temperature)))
        # initial centres ~ N(init_mean, softplus(init_scale)^2), in feature space
        self.init_mean = nn.Parameter(torch.tensor([0.3, 0.3, 0.3, 0.0, 0.0]))
        self.init_scale = nn.Parameter(torch.full((FEATURE_DIM,), 0.5))

    @property
    def latent_dim(self) -> int:
        """D = 6: mean colour, mean position, log spread."""
        return LATENT_DIM

    # --- pieces ---------------------------------------------------------------------------------
    def _grid(self, height: int, width: int, like: Tensor) -> Tensor:
        """Pixel positions ``[H*W, 2]`` (x, y) in ``[-1, 1]``."""
        ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
        xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([xx, yy], dim=-1).reshape(-1, 2)

    def _features(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` -> pixel features ``[B, N, 5]`` (N = H*W)."""
        b, _, h, w = images.shape
        rgb = images.flatten(2).transpose(1, 2)
        xy = self._grid(h, w, images).expand(b, -1, -1)
        return torch.cat([rgb * self.log_colour_weight.exp(), xy * self.log_position_weight.exp()], dim=-1)

    def _cluster(self, features: Tensor, noise: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Soft K-means of ``features [B, N, 5]`` from centres ``init_mean + scale * noise
        [B, K, 5]``: per round, the centres ``[B, K, 5]`` and the responsibilities ``[B, N, K]``
        (normalised over K) they were computed from."""
        centres = self.init_mean + nn.functional.softplus(self.init_scale) * noise
        temperature = self.log_temperature.exp()
        rounds = []
        for _ in range(self.config.iterations):
            resp = torch.softmax(-torch.cdist(features, centres).pow(2) / temperature, dim=-1)
            mass = resp.sum(dim=1).unsqueeze(-1)  # [B, K, 1]
            # an empty cluster keeps its centre instead of dividing by zero
            centres = (resp.transpose(1, 2) @ features + _EPS * centres) / (mass + _EPS)
            rounds.append((centres, resp))
        return rounds

    def _slot_latents(self, features: Tensor, resp: Tensor) -> Tensor:
        """Per-slot statistics ``[B, K, 6]`` (mean colour, mean position, log spread) of the
        pixels ``features [B, N, 5]`` weighted by ``resp [B, N, K]``."""
        weights = resp / (resp.sum(dim=1, keepdim=True) + _EPS)  # [B, N, K], sums to 1 over N
        colour = weights.transpose(1, 2) @ (features[..., :3] / self.log_colour_weight.exp())
        xy = features[..., 3:] / self.log_position_weight.exp()
        position = weights.transpose(1, 2) @ xy  # [B, K, 2]
        sq = (xy.unsqueeze(2) - position.unsqueeze(1)).pow(2).sum(-1)  # [B, N, K]
        log_spread = 0.5 * torch.log((weights * sq).sum(dim=1) / 2 + 1e-4)  # [B, K]
        return torch.cat([colour, position, log_spread.unsqueeze(-1)], dim=-1)

    def _scene(self, images: Tensor, resp: Tensor, latents: Tensor) -> dict[str, Tensor]:
        """Masks, components, recon and NLL of the clustering ``resp [B, N, K]``."""
        b, _, h, w = images.shape
        k = resp.shape[-1]
        masks = resp.transpose(1, 2).reshape(b, k, 1, h, w)
        components = latents[..., :3, None, None].expand(b, k, 3, h, w)
        recon = (masks * components).sum(1)
        return {"masks": masks, "components": components, "recon": recon, "nll": self._nll(images, recon)}

    def _nll(self, images: Tensor, recon: Tensor) -> Tensor:
        """Per-image Gaussian NLL ``[B]`` in nats."""
        sigma = self.config.sigma
        sq = (images - recon).pow(2).flatten(1)
        return (sq / (2 * sigma**2) + math.log(sigma * math.sqrt(2 * math.pi))).sum(1)

    def _run(self, images: Tensor, noise: Tensor, decode_stages: bool = False) -> dict[str, Any]:
        features = self._features(images)
        rounds = self._cluster(features, noise)
        stages = []
        for i, (_, resp) in enumerate(rounds):
            last = i == len(rounds) - 1
            if not (last or decode_stages):
                continue
            latents = self._slot_latents(features, resp)
            scene = self._scene(images, resp, latents)
            stages.append(StageOutput(name=f"iter{i + 1}", means=latents, masks=scene["masks"],
                                      recon=scene["recon"], attention=scene["masks"][:, :, 0], nll=scene["nll"]))
        return {**scene, "centres": rounds[-1][0], "latents": latents, "stages": stages}

    # --- the interface ----------------------------------------------------------------------------
    def forward(self, images: Tensor, refinement_steps: int | None = None,
                generator: torch.Generator | None = None, decode_stages: bool = False) -> ModelOutput:
        """Cluster ``images [B, 3, H, W]``; ``stages`` holds the last round, or every round
        (``iter1..``) with ``decode_stages`` (``refinement_steps`` is ignored)."""
        noise = _noise((images.shape[0], self.num_slots, FEATURE_DIM), images, generator)
        out = self._run(images, noise, decode_stages)
        return ModelOutput(loss=out["nll"].mean(), nll=out["nll"], kl=torch.zeros_like(out["nll"]),
                           recon=out["recon"], masks=out["masks"], components=out["components"],
                           latents=out["latents"], stages=out["stages"])

    def decode(self, z: Tensor) -> DecodedScene:
        """Render latents ``z [B, K, 6]`` as Gaussian blobs (colour, position, log spread)."""
        h, w = self.image_size
        b, k, _ = z.shape
        xy = self._grid(h, w, z)  # [N, 2]
        spread = z[..., 5].exp().clamp_min(1e-3)  # [B, K]
        sq = (xy[None, None] - z[..., None, 3:5]).pow(2).sum(-1)  # [B, K, N]
        logits = (-sq / (2 * spread[..., None] ** 2) - 2 * spread.log()[..., None]).view(b, k, 1, h, w)
        masks = torch.softmax(logits, dim=1)
        components = z[..., :3].clamp(0, 1)[..., None, None].expand(b, k, 3, h, w)
        return DecodedScene(recon=(masks * components).sum(1), masks=masks, components=components, mask_logits=logits)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``[n, K, 6]`` blobs: colour ~ U(0, 1), position ~ U(-0.8, 0.8), log spread ~
        N(log 0.2, 0.3^2). A fixed prior, not learned."""
        like = self.init_mean
        k = self.num_slots
        colour = _uniform((n, k, 3), like, generator)
        position = (_uniform((n, k, 2), like, generator) * 2 - 1) * 0.8
        log_spread = math.log(0.2) + 0.3 * _noise((n, k, 1), like, generator)
        return torch.cat([colour, position, log_spread], dim=-1)

    # --- symmetry probes (optional) -------------------------------------------------------------
    def _probe_image(self, batch: int, gen: torch.Generator) -> Tensor:
        h, w = self.image_size
        return torch.rand((batch, 3, h, w), generator=gen).to(self.init_mean)

    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """The clustering (centres, latents, masks; recon and NLL invariant) as a function of the
        image and the centres' initial noise, and the blob decoder."""
        k = self.num_slots

        def inference_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            return {"image": self._probe_image(batch, gen), "noise": _noise((batch, k, FEATURE_DIM), self.init_mean, gen)}

        def inference(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            out = self._run(inputs["image"], inputs["noise"])
            return {"centres": out["centres"], "latents": out["latents"], "masks": out["masks"],
                    "recon": out["recon"], "nll": out["nll"]}

        def decoder(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            scene = self.decode(inputs["z"])
            return {"masks": scene.masks, "components": scene.components, "recon": scene.recon}

        return [
            EquivarianceProbe(name="clustering", fn=inference, make_inputs=inference_inputs,
                              fixed_keys=("image",), invariant_keys=("recon", "nll")),
            EquivarianceProbe(name="decoder", fn=decoder, make_inputs=lambda batch, gen: {"z": self.sample_prior(batch, gen)},
                              invariant_keys=("recon",)),
        ]

    def input_order_probe(self) -> EquivarianceProbe:
        """Centres and latents from the pixel features ``[B, N, 5]``: K-means sums over pixels, so
        their order does not matter."""
        k = self.num_slots

        def make_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            features = self._features(self._probe_image(batch, gen))
            return {"features": features, "noise": _noise((batch, k, FEATURE_DIM), self.init_mean, gen)}

        def fn(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            centres, resp = self._cluster(inputs["features"], inputs["noise"])[-1]
            return {"centres": centres, "latents": self._slot_latents(inputs["features"], resp)}

        return EquivarianceProbe(name="pixel_set", fn=fn, make_inputs=make_inputs, fixed_keys=("noise",))

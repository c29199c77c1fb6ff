"""Slot Attention autoencoder (Locatello et al., NeurIPS 2020) behind the common model interface.

The baseline of EfficientMORL's Table 3 (DCI on CLEVR6) and Figure 22 (timing), as in the
SlotAttention class of the EfficientMORL repository (pemami4911/EfficientMORL lib/model.py,
configs/train/*/SlotAttention.json), built from the shared components:

* image encoder: 4 x (5x5 conv 64, ReLU) + projected 4-channel position grid, flattened, then
  LayerNorm, Linear, ReLU, Linear (:class:`models.components.ImageEncoder`); the image enters in
  ``[-1, 1]`` as in the reference;
* slots initialised from one learned Gaussian shared by all slots (mean 0, softplus parameter 1,
  std by eq. 10-11), then ``num_iterations`` (3) rounds of scaled dot-product set attention
  (softmax over slots, renormalised over inputs; :class:`models.components.SetAttention`), a
  GRU cell (D) and a residual MLP (LayerNorm, D -> 128 -> D, ReLU);
* spatial broadcast decoder (:class:`models.components.SpatialBroadcastDecoder`): ``small`` for
  Tetrominoes and Multi-dSprites, ``big`` (deconvolutions from an H/16 grid) for CLEVR6; masks are
  a softmax over slots, RGB a sigmoid;
* loss: squared error summed over pixels and channels, averaged over the batch (the reference's
  "MSE"); ``implicit_grad=True`` backpropagates through the last slot iteration only (Chang et
  al. 2022: the slots are detached before it; an option, off by default and in every preset). ``nll`` reports that per-image sum of squared errors and ``kl`` is zero (the model is a
  deterministic autoencoder).

``latents`` = the final slots ``[B, K, D]`` (Table 3's representation); stages ``iter1..iterT``
carry the slots and the attention of every iteration. Slot Attention has no generative prior:
:meth:`SlotAttention.sample_prior` draws from the learned slot-initialisation Gaussian (decodable,
but not a model of scenes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from emorl_eval.models._peer_ops import eval_mode, randn
from emorl_eval.models.components.init import INIT_SCHEMES, standard_init
from emorl_eval.models.components import ImageEncoder, SetAttention, SpatialBroadcastDecoder, softplus_to_std
from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)


@dataclass
class SlotAttentionConfig:
    """Hyper-parameters of the Slot Attention autoencoder (defaults = the CLEVR6 setting)."""

    num_slots: int = 7
    latent_dim: int = 64
    image_size: tuple[int, int] = (96, 96)
    num_iterations: int = 3
    #: spatial broadcast decoder: "small", "iodine" or "big" (needs sides divisible by 16)
    decoder: str = "big"
    encoder_channels: int = 64
    mlp_hidden: int = 128
    #: ``reference`` (the EfficientMORL repository's init) or ``standard`` (Xavier gain 1, small
    #: decoder output layer; ``models.components.init.standard_init``)
    init: str = "reference"
    #: implicit differentiation of the slot iterations (Chang et al. 2022, "Object representations
    #: as fixed points"): the slots are detached before the last iteration, so the gradient flows
    #: through that iteration only (its first-order approximation). Forward values are unchanged;
    #: the learned slot initialisation then receives no gradient and stays where it is.
    implicit_grad: bool = False

    def __post_init__(self) -> None:
        from emorl_eval.errors import ConfigError

        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"image_size must be (H, W), got {self.image_size}")
        if self.decoder not in ("small", "iodine", "big"):
            raise ConfigError(f"decoder must be 'small', 'iodine' or 'big', got {self.decoder!r}")
        if self.decoder == "big" and (self.image_size[0] % 16 or self.image_size[1] % 16):
            raise ConfigError(f"decoder 'big' needs image sides divisible by 16, got {self.image_size}")
        if self.num_iterations < 1 or self.num_slots < 1 or self.latent_dim < 1:
            raise ConfigError("num_iterations, num_slots and latent_dim must be positive")
        if self.init not in INIT_SCHEMES:
            raise ConfigError(f"init must be one of {', '.join(INIT_SCHEMES)}, got {self.init!r}")


class SlotAttention(ObjectCentricModel):
    """Slot Attention autoencoder (see the module docstring)."""

    model_name: ClassVar[str] = "slot_attention"
    config_class: ClassVar[type] = SlotAttentionConfig
    supports_refinement: ClassVar[bool] = False
    slot_equivariant: ClassVar[bool] = True
    #: a deterministic autoencoder: no prior, no KL (its ``kl`` is zeros; reported as n/a)
    has_kl: ClassVar[bool] = False

    def likelihood_info(self) -> dict[str, Any]:
        """``nll`` is the per-image sum of squared errors (no likelihood, no sigma)."""
        return {"likelihood": "sse", "sigma": None}

    def __init__(self, config: SlotAttentionConfig) -> None:
        super().__init__(config)
        cfg = self.config
        d, c = cfg.latent_dim, cfg.encoder_channels
        self.encoder = ImageEncoder(cfg.image_size, 3, c)
        self.attention = SetAttention(c, d)
        self.gru = nn.GRUCell(d, d)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_hidden), nn.ReLU(), nn.Linear(cfg.mlp_hidden, d))
        self.decoder = SpatialBroadcastDecoder(cfg.decoder, d, cfg.image_size)
        # learned slot initialisation shared by all slots: [mean (0), softplus parameter (1)]
        self.init_slots = nn.Parameter(torch.cat([torch.zeros(d), torch.ones(d)]))
        # the reference SlotAttention keeps PyTorch's default init outside its decoder
        for module in (*self.encoder.modules(), *self.attention.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.reset_parameters()
        if cfg.init == "standard":
            standard_init(self, [self.decoder.decode[-1]])

    # --- pieces --------------------------------------------------------------------------------
    def _init_slots(self, noise: Tensor) -> Tensor:
        """Slots from the learned initial Gaussian and explicit noise ``[B, K, D]``."""
        mu, sp = self.init_slots.chunk(2)
        return mu + softplus_to_std(sp) * noise

    def _iterate(self, features: Tensor, noise: Tensor, iterations: int) -> tuple[list[Tensor], list[Tensor]]:
        """Slot updates from positional features ``[B, N, C]``: per-iteration slots ``[B, K, D]``
        and attention ``[B, K, N]`` (normalised over K)."""
        k, v = self.attention.keys_values(self.encoder.project(features))
        slots = self._init_slots(noise)
        b, n_slots, d = slots.shape
        all_slots, all_attn = [], []
        for i in range(iterations):
            if self.config.implicit_grad and i == iterations - 1:
                slots = slots.detach()
            updates, attn = self.attention.attend(slots, k, v)
            slots = self.gru(updates.reshape(-1, d), slots.reshape(-1, d)).view(b, n_slots, d)
            slots = slots + self.mlp(self.norm_mlp(slots))
            all_slots.append(slots)
            all_attn.append(attn)
        return all_slots, all_attn

    def _features(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` in [0, 1] -> positionally-encoded features ``[B, N, C]``."""
        return self.encoder.positional_features(images * 2.0 - 1.0)

    def decode(self, z: Tensor) -> DecodedScene:
        components, logits = self.decoder.decode_slots(z)
        masks = torch.softmax(logits, dim=1)
        return DecodedScene(recon=(masks * components).sum(1), masks=masks, components=components, mask_logits=logits)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``[n, K, D]`` draws from the learned slot-initialisation Gaussian (no scene prior)."""
        noise = randn((n, self.num_slots, self.latent_dim), self.init_slots, generator)
        return self._init_slots(noise)

    def _run(self, images: Tensor, noise: Tensor, decode_stages: bool) -> dict[str, Any]:
        h, w = self.image_size
        b, k = noise.shape[:2]
        slots, attn = self._iterate(self._features(images), noise, self.config.num_iterations)
        scene = self.decode(slots[-1])
        sse = (images - scene.recon).pow(2).flatten(1).sum(1)
        stages = []
        for i, (s, a) in enumerate(zip(slots, attn)):
            last = i == len(slots) - 1
            st_scene = scene if last else (self.decode(s) if decode_stages else None)
            stages.append(
                StageOutput(
                    name=f"iter{i + 1}",
                    means=s,
                    masks=None if st_scene is None else st_scene.masks,
                    recon=None if st_scene is None else st_scene.recon,
                    attention=a.view(b, k, h, w),
                    nll=sse if last else None,
                    kl=torch.zeros_like(sse) if last else None,
                )
            )
        return {"slots": slots[-1], "attention": attn[-1], "scene": scene, "sse": sse, "stages": stages}

    def forward(
        self,
        images: Tensor,
        refinement_steps: int | None = None,
        generator: torch.Generator | None = None,
        decode_stages: bool = False,
    ) -> ModelOutput:
        """Encode, iterate and decode ``images [B, 3, H, W]`` (``refinement_steps`` is ignored)."""
        noise = randn((images.shape[0], self.num_slots, self.latent_dim), images, generator)
        out = self._run(images, noise, decode_stages)
        scene, sse = out["scene"], out["sse"]
        return ModelOutput(
            loss=sse.mean(),
            nll=sse,
            kl=torch.zeros_like(sse),
            recon=scene.recon,
            masks=scene.masks,
            components=scene.components,
            latents=out["slots"],
            stages=out["stages"],
        )

    def training_schedule(self) -> dict[str, Any]:
        return {"lr": 4e-4, "warmup_steps": 10_000, "clip_grad_norm": None}

    # --- symmetry probes -----------------------------------------------------------------------
    def _probe_image(self, batch: int, gen: torch.Generator) -> Tensor:
        h, w = self.image_size
        return torch.rand((batch, 3, h, w), generator=gen).to(self.init_slots)

    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """Inference (slots, attention, decoded scene, loss) and the decoder, as pure functions of
        the image and explicit slot-initialisation noise."""
        k, d = self.num_slots, self.latent_dim

        def inference_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            return {"image": self._probe_image(batch, gen), "noise": randn((batch, k, d), self.init_slots, gen)}

        def inference(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                out = self._run(inputs["image"], inputs["noise"], decode_stages=False)
            scene = out["scene"]
            return {
                "slots": out["slots"],
                "attention": out["attention"],
                "masks": scene.masks,
                "recon": scene.recon,
                "loss": out["sse"],
            }

        def decoder(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                scene = self.decode(inputs["z"])
            return {"recon": scene.recon, "masks": scene.masks, "components": scene.components}

        return [
            EquivarianceProbe(
                name="inference",
                fn=inference,
                make_inputs=inference_inputs,
                fixed_keys=("image",),
                invariant_keys=("recon", "loss"),
            ),
            EquivarianceProbe(
                name="decoder",
                fn=decoder,
                make_inputs=lambda batch, gen: {"z": randn((batch, k, d), self.init_slots, gen)},
                invariant_keys=("recon",),
            ),
        ]

    def input_order_probe(self) -> EquivarianceProbe:
        """Slots as a function of the flattened positionally-encoded features ``[B, N, C]`` (and
        fixed noise): set attention sums over N, so the slots do not depend on the feature order."""
        k, d = self.num_slots, self.latent_dim

        def make_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                features = self._features(self._probe_image(batch, gen))
            return {"features": features, "noise": randn((batch, k, d), self.init_slots, gen)}

        def fn(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                slots, _ = self._iterate(inputs["features"], inputs["noise"], self.config.num_iterations)
            return {"slots": slots[-1]}

        return EquivarianceProbe(name="set_attention", fn=fn, make_inputs=make_inputs, fixed_keys=("noise",))

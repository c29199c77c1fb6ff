"""IODINE (Greff et al., ICML 2019) behind the common model interface.

Iterative amortized inference: K Gaussian posteriors lambda_k = (mu_k, softplus-param_k) start
from one learned lambda_0 shared by all slots and are refined additively by a recurrent network
fed image-space and latent-space inputs, including the gradients of the ELBO. This is the PyTorch
IODINE that the EfficientMORL authors compared against (pemami4911/IODINE.pytorch; its CLEVR6
setting has 2,751,396 trainable parameters, the "about 2.75M" of EMORL appendix E.3), with the
design of the official deepmind-research/iodine:

* **Decoder** (spatial broadcast): tile z to ``(H + 8) x (W + 8)``, append 2 linear coordinate
  channels, 4 x (5x5 conv, padding 1, ELU), 1x1 conv -> 4 channels (RGB through a sigmoid, mask
  logit); masks = softmax over K.
* **Likelihood**: pixel-wise Gaussian mixture with fixed sigma (0.1), NLL without the
  ``0.5 log 2 pi`` constant; prior N(0, I); analytic KL.
* **Refinement network** per slot: 16 image-space channels = image (3), component means (3),
  log-masks (1), mask logits (1), log mask posterior (1), per-pixel log-likelihood (1),
  dL/d(means) (3), dL/d(log-masks) (1), x/y coordinates (2); gradients and the log-likelihood go
  through LayerNorm without affine (per slot over C,H,W) and are detached. 3 x (5x5 conv, ELU),
  4x4 average pooling, linear -> ``lstm_dim`` (ELU); concatenated with the vector inputs
  ``[lambda, LN(dL/dmu), LN(dL/dsoftplus)]`` (4D), linear + ELU, LSTM(``lstm_dim``), and two linear
  heads giving the update of mu and of the softplus parameter.
* **Loss**: ``sum_t (t / T) * loss_t`` over the T = I + 1 decoded steps (later steps weigh more),
  loss_t = mean(NLL + beta KL).

Stages are the T decoded posteriors, named ``step1`` (the initial lambda_0) .. ``step{I+1}``.
``latents`` = the means of the last posterior. Refinement gradients are taken with
``torch.autograd.grad`` even under ``torch.no_grad`` (evaluation), as IODINE needs them.

Differences from the official TensorFlow IODINE (recorded, not hidden): Gaussian rather than
logistic pixel components, N(0, I) prior (the official default prior is N(0, softplus(0))),
no counterfactual / capacity inputs, an LSTM of 128 rather than 256 units at the CLEVR6 setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models._peer_ops import coord_grid, eval_mode, randn
from emorl_eval.models.components import kl_standard_normal, softplus_to_std, xavier_init
from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)


@dataclass
class IODINEConfig:
    """Hyper-parameters of IODINE (defaults = the CLEVR6 setting of the EMORL comparison)."""

    num_slots: int = 7
    latent_dim: int = 64
    image_size: tuple[int, int] = (96, 96)
    #: refinement updates I; the model decodes T = I + 1 times (IODINE's "5 iterations" = I 4)
    refinement_steps: int = 4
    sigma: float = 0.1
    decoder_channels: int = 32
    refine_channels: int = 32
    lstm_dim: int = 128
    kl_beta: float = 1.0

    def __post_init__(self) -> None:
        from emorl_eval.errors import ConfigError

        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if len(self.image_size) != 2 or min(self.image_size) < 4:
            raise ConfigError(f"image_size must be (H, W) with sides >= 4, got {self.image_size}")
        if self.refinement_steps < 0:
            raise ConfigError(f"refinement_steps must be >= 0, got {self.refinement_steps}")
        if self.num_slots < 1 or self.latent_dim < 1:
            raise ConfigError(f"num_slots and latent_dim must be positive, got {self.num_slots}, {self.latent_dim}")
        if self.sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {self.sigma}")


def _gmm_log_terms(images: Tensor, components: Tensor, log_masks: Tensor, sigma: float) -> Tensor:
    """``log m_k + log N(x; y_k, sigma^2)`` per slot and pixel-channel, ``[B, K, C, H, W]`` (no
    constant); the refinement inputs need the per-slot terms, not only their logsumexp."""
    normal_ll = -0.5 * ((images.unsqueeze(1) - components) / sigma) ** 2 - math.log(sigma)
    return log_masks + normal_ll


class IODINEDecoder(nn.Module):
    """Spatial broadcast decoder with coordinate channels: ``[N, D] -> ([N, 3, H, W] RGB in
    [0, 1], [N, 1, H, W] mask logits)``."""

    def __init__(self, latent_dim: int, channels: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.grid = (image_size[0] + 8, image_size[1] + 8)
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(latent_dim + 2, c, 5, 1, 1), nn.ELU(),
            nn.Conv2d(c, c, 5, 1, 1), nn.ELU(),
            nn.Conv2d(c, c, 5, 1, 1), nn.ELU(),
            nn.Conv2d(c, c, 5, 1, 1), nn.ELU(),
            nn.Conv2d(c, 4, 1),
        )

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        n = z.shape[0]
        tiled = z.view(n, -1, 1, 1).expand(-1, -1, *self.grid)
        coords = coord_grid(*self.grid, like=z).unsqueeze(0).expand(n, -1, -1, -1)
        out = self.net(torch.cat([tiled, coords], dim=1))
        return torch.sigmoid(out[:, :3]), out[:, 3:]


class RefinementNetwork(nn.Module):
    """IODINE's refinement network (see the module docstring); one recurrent step."""

    image_channels = 16

    def __init__(self, latent_dim: int, image_size: tuple[int, int], channels: int, lstm_dim: int) -> None:
        super().__init__()
        c = channels
        pooled = (image_size[0] // 4) * (image_size[1] // 4)
        self.conv = nn.Sequential(
            nn.Conv2d(self.image_channels, c, 5, 1, 2), nn.ELU(),
            nn.Conv2d(c, c, 5, 1, 2), nn.ELU(),
            nn.Conv2d(c, c, 5, 1, 2), nn.ELU(),
            nn.AvgPool2d(4),
            nn.Flatten(),
            nn.Linear(pooled * c, lstm_dim), nn.ELU(),
        )
        self.input_proj = nn.Sequential(nn.Linear(lstm_dim + 4 * latent_dim, lstm_dim), nn.ELU())
        self.lstm = nn.LSTMCell(lstm_dim, lstm_dim)
        self.loc = nn.Linear(lstm_dim, latent_dim)
        self.softplus = nn.Linear(lstm_dim, latent_dim)

    def forward(
        self, image_inputs: Tensor, vector_inputs: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``image_inputs [N, 16, H, W]``, ``vector_inputs [N, 4D]``, state ``([N, S], [N, S])``
        -> (delta lambda ``[N, 2D]``, new state)."""
        x = torch.cat([self.conv(image_inputs), vector_inputs], dim=1)
        h, c = self.lstm(self.input_proj(x), state)
        return torch.cat([self.loc(h), self.softplus(h)], dim=1), (h, c)


def _layer_norm(x: Tensor, dims: int) -> Tensor:
    """LayerNorm without affine over the last ``dims`` dimensions."""
    return F.layer_norm(x, x.shape[-dims:])


class IODINE(ObjectCentricModel):
    """IODINE: iterative amortized inference with a refinement LSTM (see the module docstring)."""

    model_name: ClassVar[str] = "iodine"
    config_class: ClassVar[type] = IODINEConfig
    supports_refinement: ClassVar[bool] = True
    slot_equivariant: ClassVar[bool] = True

    def likelihood_info(self) -> dict[str, Any]:
        """``nll``: a Gaussian pixel mixture over the slots with fixed ``sigma``."""
        return {"likelihood": "gmm", "sigma": float(self.config.sigma)}

    def __init__(self, config: IODINEConfig) -> None:
        super().__init__(config)
        cfg = self.config
        d = cfg.latent_dim
        self.decoder = IODINEDecoder(d, cfg.decoder_channels, cfg.image_size)
        self.refine_net = RefinementNetwork(d, cfg.image_size, cfg.refine_channels, cfg.lstm_dim)
        # xavier-normal, gain 0.02, zero biases: the reference's init_weights(net, "xavier")
        xavier_init(self.decoder)
        xavier_init(self.refine_net)
        # learned initial posterior shared by all slots: mu = 0, softplus parameter = 1
        self.lambda0 = nn.Parameter(torch.cat([torch.zeros(d), torch.ones(d)]))

    # --- pieces --------------------------------------------------------------------------------
    def _decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, K, D]`` -> (components ``[B, K, 3, H, W]``, mask logits ``[B, K, 1, H, W]``)."""
        b, k, _ = z.shape
        rgb, logits = self.decoder(z.reshape(b * k, -1))
        h, w = self.image_size
        return rgb.view(b, k, 3, h, w), logits.view(b, k, 1, h, w)

    def decode(self, z: Tensor) -> DecodedScene:
        components, logits = self._decode(z)
        masks = torch.softmax(logits, dim=1)
        return DecodedScene(recon=(masks * components).sum(1), masks=masks, components=components, mask_logits=logits)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws from the N(0, I) prior, ``[n, K, D]``."""
        return randn((n, self.num_slots, self.latent_dim), self.lambda0, generator)

    def _step(self, images: Tensor, lam: Tensor, eps: Tensor) -> dict[str, Tensor]:
        """Sample z from q(lambda), decode and score: the per-step quantities (keeps the graph)."""
        mu, sp = lam.chunk(2, dim=-1)
        std = softplus_to_std(sp)
        z = mu + std * eps
        components, logits = self._decode(z)
        log_masks = torch.log_softmax(logits, dim=1)
        log_terms = _gmm_log_terms(images, components, log_masks, self.config.sigma)  # [B,K,C,H,W]
        pixel_ll = torch.logsumexp(log_terms, dim=1)  # [B, C, H, W]
        nll = -pixel_ll.flatten(1).sum(1)
        kl = kl_standard_normal(mu, std).sum(dim=(1, 2))
        return {
            "mu": mu,
            "components": components,
            "logits": logits,
            "log_masks": log_masks,
            "log_terms": log_terms,
            "pixel_ll": pixel_ll,
            "nll": nll,
            "kl": kl,
            "loss": (nll + self.config.kl_beta * kl).mean(),
        }

    def _refine(
        self, images: Tensor, lam: Tensor, step: dict[str, Tensor], state: tuple[Tensor, Tensor], create_graph: bool
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One refinement update of ``lam [B, K, 2D]`` from the step's outputs."""
        b, k, two_d = lam.shape
        h, w = self.image_size
        d_means, d_masks, d_lam = torch.autograd.grad(
            step["loss"], [step["components"], step["log_masks"], lam], retain_graph=True, create_graph=create_graph
        )
        d_mu, d_sp = d_lam.chunk(2, dim=-1)
        # log posterior of each component for each pixel (channel log-likelihoods summed)
        normal_ll = (step["log_terms"] - step["log_masks"]).sum(2, keepdim=True)  # [B,K,1,H,W]
        mask_posterior = normal_ll - torch.logsumexp(normal_ll, dim=1, keepdim=True)
        pixel_ll = step["pixel_ll"].sum(1, keepdim=True).unsqueeze(1).expand(-1, k, -1, -1, -1)
        coords = coord_grid(h, w, like=images).view(1, 1, 2, h, w).expand(b, k, -1, -1, -1)
        image_inputs = torch.cat(
            [
                images.unsqueeze(1).expand(-1, k, -1, -1, -1),
                step["components"],
                step["log_masks"],
                step["logits"],
                mask_posterior,
                _layer_norm(pixel_ll, 3).detach(),
                _layer_norm(d_means, 3).detach(),
                _layer_norm(d_masks, 3).detach(),
                coords,
            ],
            dim=2,
        ).flatten(0, 1)
        vector_inputs = torch.cat(
            [lam, _layer_norm(d_mu, 1).detach(), _layer_norm(d_sp, 1).detach()], dim=-1
        ).flatten(0, 1)
        delta, state = self.refine_net(image_inputs, vector_inputs, state)
        return lam + delta.view(b, k, two_d), state

    def _run(self, images: Tensor, eps: Tensor, keep_graph: bool = False, decode_stages: bool = True) -> dict[str, Any]:
        """Inference with explicit noise ``eps [B, K, T, D]`` (T = number of decoded steps).

        ``keep_graph``: training; the graph runs through all steps so the loss trains the
        refinement network. Otherwise lambda is cut from the graph after each update.
        """
        b, k, t_steps, _ = eps.shape
        s = self.config.lstm_dim
        state = (images.new_zeros(b * k, s), images.new_zeros(b * k, s))
        lam = self.lambda0.to(images).expand(b, k, -1)
        if not lam.requires_grad:  # evaluation under no_grad: refinement still needs dL/dlambda
            lam = lam.detach().requires_grad_(True)
        total = images.new_zeros(())
        stages: list[StageOutput] = []
        step: dict[str, Tensor] = {}
        for t in range(t_steps):
            step = self._step(images, lam, eps[:, :, t])
            total = total + ((t + 1) / t_steps) * step["loss"]
            masks = step["log_masks"].exp()
            show = decode_stages or t == t_steps - 1
            stages.append(
                StageOutput(
                    name=f"step{t + 1}",
                    means=step["mu"],
                    masks=masks if show else None,
                    recon=(masks * step["components"]).sum(1) if show else None,
                    nll=step["nll"],
                    kl=step["kl"],
                )
            )
            if t < t_steps - 1:
                lam, state = self._refine(images, lam, step, state, create_graph=False)
                if not keep_graph:
                    # evaluation: cut the graph between steps, keep lambda differentiable
                    lam = lam.detach().requires_grad_(True)
                    state = (state[0].detach(), state[1].detach())
        masks = step["log_masks"].exp()
        return {
            "loss": total,
            "nll": step["nll"],
            "kl": step["kl"],
            "latents": step["mu"],
            "masks": masks,
            "components": step["components"],
            "recon": (masks * step["components"]).sum(1),
            "stages": stages,
        }

    def forward(
        self,
        images: Tensor,
        refinement_steps: int | None = None,
        generator: torch.Generator | None = None,
        decode_stages: bool = False,
    ) -> ModelOutput:
        """Run ``refinement_steps`` (default: the config's) refinement updates on ``images``."""
        steps = self.config.refinement_steps if refinement_steps is None else int(refinement_steps)
        if steps < 0:
            from emorl_eval.errors import ConfigError

            raise ConfigError(f"refinement_steps must be >= 0, got {steps}")
        b = images.shape[0]
        # one draw per decoded step, in order: runs with different I share their first steps' noise
        eps = torch.stack(
            [randn((b, self.num_slots, self.latent_dim), images, generator) for _ in range(steps + 1)], dim=2
        )
        needs_graph = torch.is_grad_enabled() and self.training
        with torch.enable_grad():
            out = self._run(images, eps, keep_graph=needs_graph, decode_stages=decode_stages)
        if not needs_graph:
            out = _detach(out)
        return ModelOutput(
            loss=out["loss"],
            nll=out["nll"],
            kl=out["kl"],
            recon=out["recon"],
            masks=out["masks"],
            components=out["components"],
            latents=out["latents"],
            stages=out["stages"],
        )

    def training_schedule(self) -> dict[str, Any]:
        return {"lr": 4e-4, "clip_grad_norm": None}

    # --- symmetry probes -----------------------------------------------------------------------
    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """Refinement step, full inference and decoder as pure functions of explicit noise."""
        h, w = self.image_size
        k, d, s = self.num_slots, self.latent_dim, self.config.lstm_dim

        def like() -> Tensor:
            return self.lambda0

        def image(batch: int, gen: torch.Generator) -> Tensor:
            return torch.rand((batch, 3, h, w), generator=gen).to(like())

        def refinement_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            lam = torch.cat([randn((batch, k, d), like(), gen), randn((batch, k, d), like(), gen)], dim=-1)
            return {
                "image": image(batch, gen),
                "lambda": lam,
                "eps": randn((batch, k, d), like(), gen),
                "h": 0.1 * randn((batch, k, s), like(), gen),
                "c": 0.1 * randn((batch, k, s), like(), gen),
            }

        def refinement(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.enable_grad():
                lam = inputs["lambda"].detach().requires_grad_(True)
                b = lam.shape[0]
                step = self._step(inputs["image"], lam, inputs["eps"])
                state = (inputs["h"].reshape(b * k, s), inputs["c"].reshape(b * k, s))
                new_lam, (h1, c1) = self._refine(inputs["image"], lam, step, state, create_graph=False)
            return {
                "lambda": new_lam.detach(),
                "h": h1.detach().view(b, k, s),
                "c": c1.detach().view(b, k, s),
                "loss": step["loss"].detach().expand(b),
            }

        def inference_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            steps = self.config.refinement_steps + 1
            return {"image": image(batch, gen), "eps": randn((batch, k, steps, d), like(), gen)}

        def inference(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.enable_grad():
                out = _detach(self._run(inputs["image"], inputs["eps"], decode_stages=False))
            return {"latents": out["latents"], "masks": out["masks"], "recon": out["recon"], "nll": out["nll"]}

        def decoder(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with torch.no_grad():
                scene = self.decode(inputs["z"])
            return {"recon": scene.recon, "masks": scene.masks, "components": scene.components}

        return [
            EquivarianceProbe(
                name="refinement",
                fn=refinement,
                make_inputs=refinement_inputs,
                fixed_keys=("image",),
                invariant_keys=("loss",),
            ),
            EquivarianceProbe(
                name="inference",
                fn=inference,
                make_inputs=inference_inputs,
                fixed_keys=("image",),
                invariant_keys=("recon", "nll"),
            ),
            EquivarianceProbe(
                name="decoder",
                fn=decoder,
                make_inputs=lambda batch, gen: {"z": randn((batch, k, d), like(), gen)},
                invariant_keys=("recon",),
            ),
        ]


def _detach(out: dict[str, Any]) -> dict[str, Any]:
    """Detach every tensor of a ``_run`` result (evaluation: no graph is handed out)."""
    detached: dict[str, Any] = {}
    for key, value in out.items():
        if isinstance(value, Tensor):
            detached[key] = value.detach()
        elif key == "stages":
            detached[key] = [
                StageOutput(
                    name=st.name,
                    means=st.means.detach(),
                    masks=None if st.masks is None else st.masks.detach(),
                    recon=None if st.recon is None else st.recon.detach(),
                    nll=None if st.nll is None else st.nll.detach(),
                    kl=None if st.kl is None else st.kl.detach(),
                )
                for st in value
            ]
        else:
            detached[key] = value
    return detached


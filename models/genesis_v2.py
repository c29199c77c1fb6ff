"""GENESIS-v2 (Engelcke et al., NeurIPS 2021) behind the common model interface.

Architecture (checked against the official code, applied-ai-lab/genesis ``genesisv2_config.py``,
``modules/unet.py``, ``modules/attention.py``, ``modules/blocks.py``; re-written here, with the
official module names so that official state dicts load unchanged):

* **Encoder** ``encoder``: a UNet of ``log2(S) - 1`` blocks (5 at 64 px, 6 at 128 px), each a
  3x3 conv without bias + GroupNorm(8) + ReLU; widths ``c = min(feat_dim, 64)``: down
  ``3->c, (c->c)*, c->2c, 2c->2c, 2c->2c`` with nearest x0.5 between blocks; an MLP
  ``2c*4*4 -> 128 -> 128 -> 2c*4*4`` (ReLU each) at the 4x4 bottleneck; up on ``[up, skip]``
  ``4c->2c, 4c->2c, 4c->c, (2c->c)*`` with nearest x2 between; ReLU -> ``enc [B, c, H, W]``.
* **IC-SBP** (``att_process``): ``seg_head`` (ConvGNReLU) then a semi-convolutional colour head
  ``gate * conv1x1(.) + [0, .., 0, y, x]`` -> colour ``[B, 8, H, W]``. A seed map
  ``rand_pixel ~ U[0, 1) [B, 1, H, W]`` is drawn once per forward from the generator; for K-1
  steps the seed is the colour at ``argmax(rand_pixel * scope)``, ``alpha = kernel(colour, seed)``
  (gaussian ``exp(-|c - s|^2 / sigma)``; laplacian; epanechnikov), clamped to [0.01, 0.99] with
  straight-through gradients, ``log m_k = log s_k + log alpha``, ``log s_{k+1} = log s_k +
  log(1 - alpha)``; the last mask is the remaining scope. ``log_sigma`` (initialised at
  ``log(1 / (K ln 2))``) is a float64 parameter, as in the official code.
* **Component posterior**: ``feat_head`` (ConvGNReLU + conv1x1 -> 2 feat_dim); per slot the
  mask-weighted mean feature ``sum_hw m_k f / (sum_hw m_k + 1e-5)`` -> ``z_head`` (LayerNorm,
  Linear, ReLU, Linear) -> ``mu``, ``sigma = softplus(. + 0.5) + 1e-8``.
* **Decoder** ``decoder_module``: spatial broadcast of z_k to ``S/16`` with 2 coordinate channels,
  4 transposed convs (5x5, stride 2) with GroupNorm + ReLU, conv1x1 -> 4 channels: RGB =
  sigmoid(ch 0..2), the mask logits ch 3 are softmax-normalised over the K slots: the
  "reconstructed" masks, used for the reconstruction and the likelihood.
* **Prior** (autoregressive, as GENESIS's mask prior): p(z_1) = N(0, I), p(z_k | z_<k) from an
  LSTM(4 feat_dim) + linear head, means ``tanh``, stds ``sigmoid(. + 4) + 1e-4``.
* **Loss**: ``nll`` = the official ``err`` (pixel-wise Gaussian mixture over the reconstructed
  masks, sigma 0.7, *with* the ``0.5 log 2 pi`` constant, unlike our other models; the option
  ``likelihood="gaussian"`` scores the summed reconstruction instead, as EfficientMORL appendix B.1
  trained GENESIS); ``kl`` = the
  closed-form KL of each q(z_k) from p(z_k | sampled z_<k) summed over k (never negative, as
  evaluation requires), or with ``montecarlo_kl=True`` (official checkpoints load with it) the
  official single-sample Monte-Carlo ``sum_k log q(z_k) - log p(z_k | z_<k)`` at the z used, which
  can be negative for one image (GENESIS-v2 has no mask KL by default); GECO as in GENESIS, with
  its CPU-recipe options (``geco_beta_min``, ``kl_warmup_steps``; off by default).

``ModelOutput.masks`` are the reconstructed masks; the IC-SBP masks are the stage ``"icsbp"``'s
``attention`` and ``masks`` (its ``recon`` combines the components with them). ``latents`` = ``mu_k [B, K, feat_dim]``. Noise order (generator or
global RNG): ``uniform [B, 1, H, W]`` (seed map), then K draws ``normal [B, feat_dim]``.

Symmetry: the decoder is applied to each slot alike and normalised by a softmax over K, so it is
slot-permutation equivariant (``claimed=True``); inference (the stick-breaking order, the last
slot takes the remaining scope) and the autoregressive prior are ordered (``claimed=False``).

Departures from the official code (none changes a number at the official sizes):

* the NLL uses ``logsumexp`` where the official code takes a plain ``log(sum(exp(.)))``: equal where
  the latter is finite; finite where it underflows to ``inf``;
* the seed of each step is gathered with ``torch.gather`` instead of a Python loop over the batch,
  and the scope is not bilinearly resized to the colour map's size (equal sizes: identity);
* images whose side is not a power of two (e.g. Tetrominoes at 35 px, which the official code
  resizes to 32) are accepted: the UNet upsamples to the size of each skip connection and the
  decoder broadcasts to ``ceil(S / 16)`` and crops its output to the image;
* ``dynamic_K`` and ``klm_loss`` (off in every official setting) are not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models._peer_ops import eval_mode, randn
from emorl_eval.models.components import kl_normal_normal
from emorl_eval.models.genesis import Genesis, check_kl_weighting
from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)

KERNELS = ("gaussian", "laplacian", "epanechnikov")


@dataclass
class GenesisV2Config:
    """Hyper-parameters of GENESIS-v2 (defaults = the official flags)."""

    num_slots: int = 5
    image_size: tuple[int, int] = (64, 64)
    #: feature and latent size (official ``feat_dim``); the UNet width is min(feat_dim, 64)
    feat_dim: int = 64
    #: IC-SBP distance kernel: gaussian (official default), laplacian, epanechnikov
    kernel: str = "gaussian"
    #: semi-convolutional colour embedding (adds pixel coordinates; official default)
    semiconv: bool = True
    colour_dim: int = 8
    autoreg_prior: bool = True
    #: report and train on the official single-sample Monte-Carlo KL (official checkpoints load
    #: with it); False: the closed form given the sampled z_<k, never negative
    montecarlo_kl: bool = False
    #: GMM sigma (official pixel_std1 = pixel_std2)
    sigma: float = 0.7
    #: "gmm" (official: pixel-wise mixture over the reconstructed masks) or "gaussian" (a Gaussian
    #: of the summed reconstruction ``sum_k m_k x_k``, the likelihood EfficientMORL appendix B.1
    #: trained GENESIS with; a CPU-recipe option)
    likelihood: str = "gmm"
    #: include the 0.5 log 2 pi constant in ``nll`` (the official ``err``)
    nll_constant: bool = True
    use_geco: bool = True
    #: GECO goal per pixel-channel, in the units of ``nll`` (official 0.5655, constant included)
    geco_goal: float = 0.5655
    geco_lr: float = 1e-5
    geco_alpha: float = 0.99
    geco_speedup: float = 10.0
    geco_beta_init: float = 1.0
    #: lower bound of GECO's beta (official: 1e-10; see models.genesis)
    geco_beta_min: float = 1e-10
    #: KL weight when GECO is off
    kl_beta: float = 1.0
    #: KL warm-up steps (0 = off, official; see models.genesis)
    kl_warmup_steps: int = 0

    def __post_init__(self) -> None:
        from emorl_eval.errors import ConfigError

        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if self.num_slots < 2:
            raise ConfigError(f"GENESIS-v2 needs num_slots >= 2, got {self.num_slots}")
        if len(self.image_size) != 2 or self.image_size[0] != self.image_size[1] or self.image_size[0] < 32:
            raise ConfigError(f"GENESIS-v2 needs square images with sides >= 32, got {self.image_size}")
        if self.feat_dim % 8 or not 8 <= self.feat_dim <= 64:
            raise ConfigError(f"feat_dim must be a multiple of 8 in [8, 64] (GroupNorm(8)), got {self.feat_dim}")
        if self.kernel not in KERNELS:
            raise ConfigError(f"kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {self.sigma}")
        if self.likelihood not in ("gmm", "gaussian"):
            raise ConfigError(f"likelihood must be 'gmm' or 'gaussian', got {self.likelihood!r}")
        check_kl_weighting(self)


def _conv_gn_relu(cin: int, cout: int) -> nn.Sequential:
    """Official ConvGNReLU: 3x3 conv (no bias, padding 1), GroupNorm(8), ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU())


def _clamp_st(x: Tensor, lower: float, upper: float) -> Tensor:
    """Clamp with straight-through gradients, written as the official code writes it."""
    return x + (x.clamp(lower, upper) - x).detach()


def _broadcast_coords(size: int, like: Tensor) -> Tensor:
    """``[2, S, S]`` official pixel coordinates: (varies along H, varies along W) in [-1, 1]."""
    lin = torch.linspace(-1.0, 1.0, size, device=like.device, dtype=like.dtype)
    g1, g2 = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([g1, g2], dim=0)


class UNet(nn.Module):
    """GENESIS-v2 image encoder: ``[B, 3, S, S] -> [B, c, S, S]`` (before the final ReLU)."""

    def __init__(self, image_size: int, c: int) -> None:
        super().__init__()
        blocks = int(math.log2(image_size) - 1)
        down = [(3, c)] + [(c, c)] * (blocks - 4) + [(c, 2 * c), (2 * c, 2 * c), (2 * c, 2 * c)]
        up = [(4 * c, 2 * c), (4 * c, 2 * c), (4 * c, c)] + [(2 * c, c)] * (blocks - 3)
        self.down = nn.ModuleList([_conv_gn_relu(i, o) for i, o in down])
        self.up = nn.ModuleList([_conv_gn_relu(i, o) for i, o in up])
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * 4 * 2 * c, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
            nn.Linear(128, 4 * 4 * 2 * c), nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            skips.append(x)
            if i < len(self.down) - 1:
                x = F.interpolate(x, scale_factor=0.5, mode="nearest")
        x = self.mlp(x).view(x.shape[0], -1, *x.shape[2:])
        for i, block in enumerate(self.up):
            x = block(torch.cat([x, skips[-1 - i]], dim=1))
            if i < len(self.up) - 1:
                x = F.interpolate(x, size=skips[-2 - i].shape[2:], mode="nearest")
        return x


class ScalarGate(nn.Module):
    """``gate * x`` with a learned scalar (initialised at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.gate * x


class SemiConv(nn.Module):
    """Semi-convolutional embedding ``[B, C, S, S] -> [B, D, S, S]``: gated conv1x1 plus
    ``[0, .., 0, y, x]`` pixel coordinates in the last two channels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.gate = ScalarGate()

    def forward(self, x: Tensor) -> Tensor:
        out = self.gate(self.conv(x))
        coords = _broadcast_coords(x.shape[-1], out)
        zeros = out.new_zeros(out.shape[1] - 2, *coords.shape[1:])
        return out + torch.cat([zeros, coords], dim=0).unsqueeze(0)


class InstanceColouringSBP(nn.Module):
    """IC-SBP: colour embedding + stick-breaking over randomly seeded kernels (module docstring)."""

    def __init__(self, cfg: GenesisV2Config) -> None:
        super().__init__()
        self.kernel = cfg.kernel
        k = cfg.num_slots
        init = {"gaussian": 1.0 / (k * math.log(2)), "laplacian": 1.0 / (math.sqrt(k) * math.log(2)),
                "epanechnikov": 2.0 / k}[cfg.kernel]
        self.log_sigma = nn.Parameter(torch.tensor(init, dtype=torch.float64).log())
        if cfg.semiconv:
            self.colour_head: nn.Module = SemiConv(cfg.feat_dim, cfg.colour_dim)
        else:
            self.colour_head = nn.Conv2d(cfg.feat_dim, cfg.colour_dim, 1)

    def forward(self, features: Tensor, rand_pixel: Tensor, num_slots: int) -> tuple[Tensor, Tensor]:
        """``features [B, C, S, S]``, ``rand_pixel [B, 1, S, S]`` -> (log-masks ``[B, K, 1, S, S]``,
        colour ``[B, D, S, S]``)."""
        colour = self.colour_head(features)
        b, d = colour.shape[:2]
        flat = colour.flatten(2)
        log_s = colour.new_zeros(b, 1, *colour.shape[2:])
        log_m = []
        for _ in range(num_slots - 1):
            index = (rand_pixel * log_s.exp()).flatten(2).argmax(2)  # [B, 1]
            seed = flat.gather(2, index.unsqueeze(1).expand(b, d, 1)).view(b, d, 1, 1)
            sq = ((colour - seed) ** 2).sum(1)
            if self.kernel == "gaussian":
                alpha = torch.exp(-sq / self.log_sigma.exp())
            elif self.kernel == "laplacian":
                alpha = torch.exp(-_clamp_st(sq, 1e-10, 1e10).sqrt() / self.log_sigma.exp())
            else:
                alpha = (1 - sq / self.log_sigma.exp()).relu()
            alpha = _clamp_st(alpha.unsqueeze(1), 0.01, 0.99)
            log_m.append(log_s + torch.log(alpha))
            log_s = log_s + torch.log(1 - alpha)
        log_m.append(log_s)
        return torch.stack(log_m, dim=1), colour


class GenesisV2(ObjectCentricModel):
    """GENESIS-v2: IC-SBP masks, per-slot VAE with a broadcast decoder (see the module docstring)."""

    model_name: ClassVar[str] = "genesis_v2"
    config_class: ClassVar[type] = GenesisV2Config
    supports_refinement: ClassVar[bool] = False
    slot_equivariant: ClassVar[bool] = False

    # GECO in GENESIS's multiplicative form, shared with models.genesis
    after_backward = Genesis.after_backward
    _geco_extras = Genesis._geco_extras
    _kl_weight = Genesis._kl_weight
    on_train_step = Genesis.on_train_step
    kl_monte_carlo = Genesis.kl_monte_carlo

    def __init__(self, config: GenesisV2Config) -> None:
        super().__init__(config)
        cfg = self.config
        f = cfg.feat_dim
        c = min(f, 64)
        size = cfg.image_size[0]
        self.encoder = UNet(size, c)
        self.att_process = InstanceColouringSBP(cfg)
        self.seg_head = _conv_gn_relu(f, f)
        self.feat_head = nn.Sequential(_conv_gn_relu(f, f), nn.Conv2d(f, 2 * f, 1))
        self.z_head = nn.Sequential(nn.LayerNorm(2 * f), nn.Linear(2 * f, 2 * f), nn.ReLU(), nn.Linear(2 * f, 2 * f))
        self.broadcast = math.ceil(size / 16)
        layers: list[nn.Module] = [nn.Identity()]  # index 0: the official (parameter-free) broadcast layer
        widths = [(f + 2, c), (c, c), (c, c), (c, c)]
        for cin, cout in widths:
            layers += [nn.ConvTranspose2d(cin, cout, 5, 2, 2, 1), nn.GroupNorm(8, cout), nn.ReLU()]
        layers.append(nn.Conv2d(c, 4, 1))
        self.decoder_module = nn.Sequential(*layers)
        if cfg.autoreg_prior:
            self.prior_lstm = nn.LSTM(f, 4 * f)
            self.prior_linear = nn.Linear(4 * f, 2 * f)
        self.register_buffer("geco_beta", torch.tensor(float(cfg.geco_beta_init)))
        self.register_buffer("geco_err_ema", torch.tensor(float("nan")))

    # --- sizes ---------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.config.feat_dim)

    @property
    def _num_elements(self) -> int:
        return 3 * self.config.image_size[0] * self.config.image_size[1]

    # --- noise ---------------------------------------------------------------------------------
    def draw_noise(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """All randomness of one forward pass, in the official order: ``rand_pixel [B, 1, H, W]``
        uniform in [0, 1), then K draws ``[B, D]`` stacked to ``eps [B, K, D]``."""
        like = self.geco_beta
        h, w = self.config.image_size
        if generator is None:
            rand = torch.rand((batch_size, 1, h, w), device=like.device, dtype=like.dtype)
        else:
            rand = torch.rand((batch_size, 1, h, w), generator=generator, device=generator.device)
        eps = [randn((batch_size, self.config.feat_dim), like, generator) for _ in range(self.num_slots)]
        return {"rand_pixel": rand.to(like), "eps": torch.stack(eps, dim=1)}

    # --- pieces --------------------------------------------------------------------------------
    def decode(self, z: Tensor) -> DecodedScene:
        """``z [B, K, D]`` -> scene; masks are the softmax over K of the decoder's mask logits."""
        b, k, d = z.shape
        n = self.broadcast
        grid = z.reshape(b * k, d, 1, 1).expand(-1, -1, n, n)
        coords = _broadcast_coords(n, z).unsqueeze(0).expand(b * k, -1, -1, -1)
        out = self.decoder_module(torch.cat([grid, coords], dim=1))
        h, w = self.config.image_size
        out = out[:, :, :h, :w].reshape(b, k, 4, h, w)
        components = torch.sigmoid(out[:, :, :3])
        log_masks = F.log_softmax(out[:, :, 3:], dim=1)
        masks = log_masks.exp()
        return DecodedScene(recon=(masks * components).sum(1), masks=masks, components=components,
                            mask_logits=log_masks)

    def _prior(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Prior (mu, sigma) ``[B, K, D]`` of z_k given z_<k; N(0, I) for k = 1 (and without the
        autoregressive prior)."""
        mus, sigmas = [torch.zeros_like(z[:, 0])], [torch.ones_like(z[:, 0])]
        if not self.config.autoreg_prior:
            return torch.zeros_like(z), torch.ones_like(z)
        if self.num_slots > 1:
            out, _ = self.prior_lstm(z[:, :-1].transpose(0, 1))  # [K-1, B, 4D]
            mu, raw = self.prior_linear(out).chunk(2, dim=-1)
            mus += list(torch.tanh(mu))
            sigmas += list(torch.sigmoid(raw + 4.0) + 1e-4)
        return torch.stack(mus, 1), torch.stack(sigmas, 1)

    def _nll(self, images: Tensor, components: Tensor, log_masks: Tensor) -> Tensor:
        """Official ``err`` ``[B]``: ``-sum_p log sum_k m_k N(x_p; x_kp, sigma^2)`` (logsumexp);
        with ``likelihood="gaussian"``: ``-sum_p log N(x_p; sum_k m_k x_kp, sigma^2)``."""
        sigma = self.config.sigma
        if self.config.likelihood == "gaussian":
            recon = (log_masks.exp() * components).sum(1)
            nll = (math.log(sigma) + 0.5 * ((images - recon) / sigma) ** 2).sum(dim=(1, 2, 3))
        else:
            log_p = (log_masks - math.log(sigma) - 0.5 * ((images.unsqueeze(1) - components) / sigma) ** 2)
            nll = -torch.logsumexp(log_p, dim=1).sum(dim=(1, 2, 3))
        if self.config.nll_constant:
            nll = nll + 0.5 * math.log(2 * math.pi) * images[0].numel()
        return nll

    def _run(self, images: Tensor, noise: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every output of a forward pass, deterministic given ``noise`` (:meth:`draw_noise`)."""
        enc = F.relu(self.encoder(images))
        att_log_masks, colour = self.att_process(self.seg_head(enc), noise["rand_pixel"], self.num_slots)
        feat = self.feat_head(enc)  # [B, 2D, H, W]
        att_masks = att_log_masks.exp()  # [B, K, 1, H, W]
        pooled = (att_masks * feat.unsqueeze(1)).sum((3, 4)) / (att_masks.sum((3, 4)) + 1e-5)
        mu, raw = self.z_head(pooled).chunk(2, dim=-1)
        sigma = F.softplus(raw + 0.5) + 1e-8
        z = mu + sigma * noise["eps"]
        scene = self.decode(z)
        p_mu, p_sigma = self._prior(z)
        log_q = -0.5 * ((z - mu) / sigma) ** 2 - torch.log(sigma)
        log_p = -0.5 * ((z - p_mu) / p_sigma) ** 2 - torch.log(p_sigma)
        if self.config.montecarlo_kl:
            kl = (log_q - log_p).sum(-1)  # [B, K]
        else:
            kl = kl_normal_normal(mu, sigma, p_mu, p_sigma).sum(-1)
        return {"latents": mu, "z": z, "att_masks": att_masks, "colour": colour, "scene": scene,  # type: ignore[dict-item]
                "nll": self._nll(images, scene.components, scene.mask_logits), "kl": kl.sum(1)}

    def forward(
        self,
        images: Tensor,
        refinement_steps: int | None = None,
        generator: torch.Generator | None = None,
        decode_stages: bool = False,
        noise: dict[str, Tensor] | None = None,
    ) -> ModelOutput:
        """Infer, decode and score ``images [B, 3, H, W]`` in [0, 1]; ``noise`` (:meth:`draw_noise`)
        replaces the draws from ``generator`` (``eps`` zeros: the posterior means)."""
        if noise is None:
            noise = self.draw_noise(images.shape[0], generator)
        out = self._run(images, noise)
        scene: DecodedScene = out["scene"]  # type: ignore[assignment]
        nll, kl = out["nll"], out["kl"]
        loss = nll.mean() + self._kl_weight() * kl.mean()
        stages = [
            StageOutput(name="icsbp", means=out["latents"], masks=out["att_masks"],
                        recon=(out["att_masks"] * scene.components).sum(1), attention=out["att_masks"][:, :, 0]),
            StageOutput(name="posterior", means=out["latents"], masks=scene.masks, recon=scene.recon, nll=nll, kl=kl),
        ]
        return ModelOutput(loss=loss, nll=nll, kl=kl, recon=scene.recon, masks=scene.masks,
                           components=scene.components, latents=out["latents"], stages=stages,
                           extras=self._geco_extras(nll))

    def training_schedule(self) -> dict[str, Any]:
        return {"lr": 1e-4, "clip_grad_norm": None}

    # --- prior sampling ------------------------------------------------------------------------
    def _prior_from_noise(self, eps: Tensor) -> Tensor:
        """Ancestral prior sample ``[B, K, D]`` from explicit noise ``eps [B, K, D]``."""
        zs, state = [eps[:, 0]], None
        for k in range(1, self.num_slots):
            if not self.config.autoreg_prior:
                zs.append(eps[:, k])
                continue
            out, state = self.prior_lstm(zs[-1].unsqueeze(0), state)
            mu, raw = self.prior_linear(out[0]).chunk(2, dim=-1)
            zs.append(torch.tanh(mu) + (torch.sigmoid(raw + 4.0) + 1e-4) * eps[:, k])
        return torch.stack(zs, 1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` ancestral samples ``[n, K, D]`` from the autoregressive prior."""
        return self._prior_from_noise(randn((n, self.num_slots, self.latent_dim), self.geco_beta, generator))

    # --- symmetry probes -----------------------------------------------------------------------
    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """Inference (ordered: claimed=False), decoder (per-slot + softmax over K: claimed=True),
        prior (autoregressive: claimed=False)."""
        h, w = self.config.image_size
        k, d = self.num_slots, self.latent_dim

        def like() -> Tensor:
            return self.geco_beta

        def inference_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            return {"image": torch.rand((batch, 3, h, w), generator=gen).to(like()),
                    "rand_pixel": torch.rand((batch, 1, h, w), generator=gen).to(like()),
                    "eps": randn((batch, k, d), like(), gen)}

        def inference(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                out = self._run(inputs["image"], inputs)
            scene: DecodedScene = out["scene"]  # type: ignore[assignment]
            return {"latents": out["latents"], "masks": scene.masks, "recon": scene.recon}

        def decoder(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                scene = self.decode(inputs["z"])
            return {"recon": scene.recon, "masks": scene.masks, "components": scene.components}

        def prior(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                return {"z": self._prior_from_noise(inputs["eps"])}

        return [
            EquivarianceProbe(name="inference", fn=inference, make_inputs=inference_inputs,
                              fixed_keys=("image", "rand_pixel"), invariant_keys=("recon",), claimed=False),
            EquivarianceProbe(name="decoder", fn=decoder,
                              make_inputs=lambda batch, gen: {"z": randn((batch, k, d), like(), gen)},
                              invariant_keys=("recon",), claimed=True),
            EquivarianceProbe(name="prior", fn=prior,
                              make_inputs=lambda batch, gen: {"eps": randn((batch, k, d), like(), gen)},
                              claimed=False),
        ]

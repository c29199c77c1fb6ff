"""GENESIS (Engelcke et al., ICLR 2020) and GENESIS-S behind the common model interface.

Architecture (checked against the official code, applied-ai-lab/genesis; re-written here):

* **Mask posterior** q(z^m_{1:K} | x): a gated-convolution encoder (5 gated 5x5 convs, BatchNorm,
  then a gated conv whose kernel covers the remaining grid -> 256 features); z^m_1 from two linear
  heads, z^m_k for k > 1 from an LSTM cell fed ``[h, z^m_{k-1}]`` and a linear head. Means are
  linear, stds ``softplus(. + 0.5) + 1e-8``.
* **Masks**: each z^m_k is decoded (gated transposed convs) to a logit a_k; stick-breaking gives
  ``m_1 = sigmoid(a_1)``, ``m_k = s_{k-1} sigmoid(a_k)``, ``s_k = s_{k-1} sigmoid(-a_k)``, and the
  last component takes the remaining scope ``m_K = s_{K-1}`` (z^m_K still enters KL and prior).
  ``mask_decoder="broadcast"`` (a CPU-recipe option, not official) decodes a_k with a spatial
  broadcast decoder instead; ordering, stick-breaking and priors are unchanged.
* **Component VAE** (two-stage GENESIS): encodes ``[log m_k, x]`` with 4 stride-2 3x3 convs + MLP
  to z^c_k (16-d) and decodes RGB with a spatial broadcast decoder (4 unpadded 3x3 convs, ELU).
* **GENESIS-S** (``two_stage=False``, registry name ``genesis_s``, appendix B.1): one latent z_k
  per component; the masks come from it as above and RGB from a broadcast decoder of the same z_k.
* **Priors**: p(z^m_1) = N(0, I); p(z^m_k | z^m_{<k}) from an LSTM(256) + linear head; p(z^c_k |
  z^m_k) from an MLP (256, 256); prior means ``tanh``, stds ``sigmoid(. + 4) + 1e-4``.
* **KL**: per component, the closed-form KL between the Gaussian posterior and the Gaussian prior
  *conditional on the sampled* z^m_{<k} (resp. z^m_k): the same expectation as the official code's
  single-sample Monte-Carlo ``log q(z) - log p(z)``, lower variance and never negative (evaluation
  rejects negative analytic KLs). ``montecarlo_kl=True`` (the official flag; what official checkpoints load
  with) trains on *and reports* the official MC estimate, which can be negative for one image
  (``kl_monte_carlo`` tells evaluations so: they accept it and report its mean).
* **Likelihood**: the pixel-wise Gaussian mixture (``gmm``, the original, sigma 0.7) or the
  Gaussian of the summed reconstruction (``gaussian``, sigma 0.1, what EfficientMORL appendix B.1
  trained GENESIS with). NLLs omit the ``0.5 log 2 pi`` constant like every model here, unless
  ``nll_constant=True`` (official checkpoints: then ``nll`` is the official ``err``).
  ``sigma_first`` is the official ``pixel_std1`` (sigma of the first component; None = ``sigma``).
* **GECO** in GENESIS's form: loss = NLL + beta * KL, beta multiplied by ``exp(lr * (goal -
  NLL_ema))`` after each step (``speedup`` x faster when below the goal), clamped to
  ``[geco_beta_min, 1e10]`` (official: ``geco_beta_min`` = 1e-10); the goal is given per
  pixel-channel, the step size is scaled by 64^2 / (H W) as in the official trainer. Options for
  CPU recipes, off by default: a beta floor (``geco_beta_min``) and a KL warm-up
  (``kl_warmup_steps``: the KL weight, GECO's or ``kl_beta``, rises linearly from 0 over the
  first training steps).

``latents`` = ``[mu^m_k, mu^c_k]`` (the paper's concatenation), ``[B, K, 64 + 16]``; for GENESIS-S
``mu_k`` ``[B, K, 64]``. GENESIS is ordered by design: ``slot_equivariant = False``; its
symmetry probes are exposed with ``claimed=False`` so the report shows the measured violation.

Official checkpoints (``models.official_genesis``) load into these modules by a key map (the
broadcast decoder's coordinate channels are ordered (x, y) here, (y, x) officially: the loader
swaps the two input columns) with ``montecarlo_kl``, ``nll_constant``, ``sigma_first`` set from
their flags. Departures from the official forward that change no number: the GMM NLL uses
``logsumexp`` (the official plain ``log(sum(exp))`` gives ``inf`` where it underflows); the
stick-breaking scope is a cumulative sum; std is ``softplus(.) + 1e-8`` (officially the square
root of its square). The noise is drawn in the official order (K draws ``[B, Dm]``, then one
``[K B, Dc]``).

Generalisations (the official code accepts only 32/64/128/256 square images): the number of
stride-2 layers of the gated encoder is 2 for sides <= 64, 3 for <= 128, 4 above; the final
kernel covers whatever grid remains and the transposed decoder output is cropped to (H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models._peer_ops import coord_grid, eval_mode, randn
from emorl_eval.models.components import gaussian_nll, gmm_nll, kl_normal_normal
from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)


@dataclass
class GenesisConfig:
    """Hyper-parameters of GENESIS / GENESIS-S (defaults = the official GENESIS flags)."""

    num_slots: int = 7
    image_size: tuple[int, int] = (64, 64)
    #: False = GENESIS-S: one latent per component, no [z^m, z^c] split
    two_stage: bool = True
    mask_latent_dim: int = 64
    comp_latent_dim: int = 16
    #: base width c of the gated mask encoder (c, c, 2c, 2c, 2c) and decoder (2c, 2c, c, c, c)
    mask_channels: int = 32
    #: width of the mask encoder's feature vector h (fed to the posterior LSTM)
    mask_feature_dim: int = 256
    comp_enc_channels: int = 32
    comp_dec_channels: int = 32
    comp_dec_layers: int = 4
    #: normalisation in the gated mask encoder/decoder: "bn" (official) or "none"
    norm: str = "bn"
    #: decoder of the mask logits from z^m_k: "deconv" (official: gated transposed convs from a
    #: 1x1 grid) or "broadcast" (a CPU-recipe option, not in the official code: the component
    #: decoder's spatial broadcast design, width ``mask_channels``, ``comp_dec_layers`` layers,
    #: whose coordinate input favours one compact region per latent)
    mask_decoder: str = "deconv"
    autoreg_prior: bool = True
    comp_prior: bool = True
    #: "gmm" (pixel-wise mixture) or "gaussian" (Gaussian of the summed reconstruction)
    likelihood: str = "gmm"
    sigma: float = 0.7
    use_geco: bool = True
    #: GECO reconstruction goal per pixel-channel (NLL without the 0.5 log 2 pi constant)
    geco_goal: float = 0.5655 - 0.5 * math.log(2 * math.pi)
    geco_lr: float = 1e-5
    geco_alpha: float = 0.99
    geco_speedup: float = 10.0
    geco_beta_init: float = 1.0
    #: lower bound of GECO's beta (the official clamp: 1e-10). GECO lowers beta while the
    #: reconstruction is worse than the goal; a floor well above 1e-10 keeps the KL shaping the
    #: latents meanwhile
    geco_beta_min: float = 1e-10
    #: KL weight when GECO is off
    kl_beta: float = 1.0
    #: KL warm-up: while training, the KL weight (GECO's beta or ``kl_beta``) is scaled by
    #: ``min(1, step / kl_warmup_steps)`` of the global training step (0 = off, the official code)
    kl_warmup_steps: int = 0
    #: train on and report the single-sample Monte-Carlo KL (official) instead of the closed form
    montecarlo_kl: bool = False
    #: GMM sigma of the first component (official ``pixel_std1``); None = ``sigma`` for every k
    sigma_first: float | None = None
    #: include the ``0.5 log 2 pi`` constant per pixel-channel in ``nll`` (the official ``err``)
    nll_constant: bool = False

    def __post_init__(self) -> None:
        from emorl_eval.errors import ConfigError

        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if self.likelihood not in ("gmm", "gaussian"):
            raise ConfigError(f"likelihood must be 'gmm' or 'gaussian', got {self.likelihood!r}")
        if self.norm not in ("bn", "none"):
            raise ConfigError(f"norm must be 'bn' or 'none', got {self.norm!r}")
        if self.mask_decoder not in ("deconv", "broadcast"):
            raise ConfigError(f"mask_decoder must be 'deconv' or 'broadcast', got {self.mask_decoder!r}")
        if self.num_slots < 2:
            raise ConfigError(f"GENESIS needs num_slots >= 2, got {self.num_slots}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise ConfigError(f"image_size must be (H, W) with sides >= 8, got {self.image_size}")
        if self.sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {self.sigma}")
        check_kl_weighting(self)
        if self.sigma_first is not None and (self.sigma_first <= 0 or self.likelihood != "gmm"):
            raise ConfigError(f"sigma_first must be positive and needs likelihood 'gmm', got {self.sigma_first}")


def check_kl_weighting(cfg: Any) -> None:
    """ConfigError for an unusable ``geco_beta_min`` or ``kl_warmup_steps`` (GENESIS, GENESIS-v2)."""
    from emorl_eval.errors import ConfigError

    if not 0 < cfg.geco_beta_min <= 1e10:
        raise ConfigError(f"geco_beta_min must be in (0, 1e10], got {cfg.geco_beta_min}")
    if cfg.kl_warmup_steps < 0:
        raise ConfigError(f"kl_warmup_steps must be >= 0, got {cfg.kl_warmup_steps}")


# --- building blocks -------------------------------------------------------------------------
def _posterior_std(raw: Tensor) -> Tensor:
    """GENESIS posterior std parameterisation: ``softplus(raw + 0.5) + 1e-8``."""
    return F.softplus(raw + 0.5) + 1e-8


def _prior_params(raw: Tensor) -> tuple[Tensor, Tensor]:
    """Learned-prior head output ``[..., 2D]`` -> (mean = tanh, std in [1e-4, 1 + 1e-4])."""
    mu, s = raw.chunk(2, dim=-1)
    return torch.tanh(mu), torch.sigmoid(s + 4.0) + 1e-4


def _normal_log_prob(z: Tensor, mu: Tensor, std: Tensor) -> Tensor:
    """Elementwise log N(z; mu, std^2) without the constant (it cancels in log q - log p)."""
    return -0.5 * ((z - mu) / std) ** 2 - torch.log(std)


class _Gated(nn.Module):
    """Gated (transposed) convolution: ``norm(h) * sigmoid(norm(g))`` from one conv of 2x width."""

    def __init__(self, conv: nn.Module, out_channels: int, norm: bool) -> None:
        super().__init__()
        self.conv = conv
        self.h_norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.g_norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h, g = self.conv(x).chunk(2, dim=1)
        return self.h_norm(h) * torch.sigmoid(self.g_norm(g))


def _gated_conv(cin: int, cout: int, k: int | tuple[int, int], s: int, p: int, norm: bool) -> _Gated:
    return _Gated(nn.Conv2d(cin, 2 * cout, k, s, p), cout, norm)


def _gated_deconv(cin: int, cout: int, k: int | tuple[int, int], s: int, p: int, op: int, norm: bool) -> _Gated:
    return _Gated(nn.ConvTranspose2d(cin, 2 * cout, k, s, p, op), cout, norm)


def _gated_strides(image_size: tuple[int, int]) -> list[int]:
    side = max(image_size)
    if side <= 64:
        return [1, 2, 1, 2, 1]
    if side <= 128:
        return [2, 2, 2, 1, 1]
    return [2, 2, 2, 2, 1]


class GatedMaskVAE(nn.Module):
    """The attention core: gated-conv encoder ``[B, 3, H, W] -> [B, F]`` and gated-deconv
    decoder ``[N, D] -> [N, 1, H, W]`` (mask logits; none with ``with_decoder=False``). Official
    widths: c = 32, F = 256."""

    def __init__(
        self,
        image_size: tuple[int, int],
        latent_dim: int,
        norm: bool,
        channels: int = 32,
        feature_dim: int = 256,
        in_channels: int = 3,
        with_decoder: bool = True,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.feature_dim = feature_dim
        c = channels
        strides = _gated_strides(image_size)
        grid = list(image_size)
        for s in strides:  # 5x5, padding 2: ceil(n / s)
            grid = [math.ceil(n / s) for n in grid]
        self.grid = tuple(grid)
        enc_in, enc_out = [in_channels, c, c, 2 * c, 2 * c], [c, c, 2 * c, 2 * c, 2 * c]
        self.encoder = nn.Sequential(
            *[_gated_conv(i, o, 5, s, 2, norm) for i, o, s in zip(enc_in, enc_out, strides)],
            _gated_conv(2 * c, feature_dim, self.grid, 1, 0, False),
            nn.Flatten(),
        )
        if not with_decoder:  # the model decodes masks with its own (broadcast) decoder
            self.decoder = None
            return
        dec_in, dec_out = [2 * c, 2 * c, c, c, c], [2 * c, c, c, c, c]
        self.decoder = nn.Sequential(
            _gated_deconv(latent_dim, 2 * c, self.grid, 1, 0, 0, False),
            *[
                _gated_deconv(i, o, 5, s, 2, s - 1, norm)
                for i, o, s in zip(dec_in, dec_out, reversed(strides))
            ],
            nn.Conv2d(c, 1, 1),
        )

    def encode(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, 256]``."""
        return self.encoder(images)

    def decode(self, z: Tensor) -> Tensor:
        """``[N, D] -> [N, 1, H, W]`` logits (the decoder's grid is cropped to the image)."""
        if self.decoder is None:
            raise RuntimeError("this GatedMaskVAE was built without a decoder")
        out = self.decoder(z.view(z.shape[0], -1, 1, 1))
        return out[:, :, : self.image_size[0], : self.image_size[1]]


class CoordBroadcastDecoder(nn.Module):
    """GENESIS's spatial broadcast decoder: tile z to ``(H + 2L) x (W + 2L)``, append 2 linear
    coordinate channels, L unpadded 3x3 convs with ELU, then a 1x1 conv: ``[N, D] -> [N, C, H, W]``."""

    def __init__(self, in_dim: int, out_channels: int, hidden: int, layers: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.grid = (image_size[0] + 2 * layers, image_size[1] + 2 * layers)
        mods: list[nn.Module] = [nn.Conv2d(in_dim + 2, hidden, 3), nn.ELU()]
        for _ in range(layers - 1):
            mods += [nn.Conv2d(hidden, hidden, 3), nn.ELU()]
        mods.append(nn.Conv2d(hidden, out_channels, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor) -> Tensor:
        n = z.shape[0]
        tiled = z.view(n, -1, 1, 1).expand(-1, -1, *self.grid)
        coords = coord_grid(*self.grid, like=z).unsqueeze(0).expand(n, -1, -1, -1)
        return self.net(torch.cat([tiled, coords], dim=1))


class ComponentEncoder(nn.Module):
    """MONet-style component encoder: ``[N, 4, H, W]`` (log-mask, RGB) -> ``[N, 2 Dc]``."""

    def __init__(self, image_size: tuple[int, int], channels: int, latent_dim: int) -> None:
        super().__init__()
        c = channels
        grid = list(image_size)
        for _ in range(4):  # 3x3, stride 2, padding 1: ceil(n / 2)
            grid = [math.ceil(n / 2) for n in grid]
        hidden = max(256, 2 * latent_dim)
        self.net = nn.Sequential(
            nn.Conv2d(4, c, 3, 2, 1), nn.ELU(),
            nn.Conv2d(c, c, 3, 2, 1), nn.ELU(),
            nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ELU(),
            nn.Conv2d(2 * c, 2 * c, 3, 2, 1), nn.ELU(),
            nn.Flatten(),
            nn.Linear(2 * c * grid[0] * grid[1], hidden), nn.ELU(),
            nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def gmm_nll_per_slot(x: Tensor, components: Tensor, log_masks: Tensor, sigmas: Tensor) -> Tensor:
    """Pixel-wise Gaussian-mixture NLL with one sigma per component (constant omitted).

    Args:
        x: ``[B, C, H, W]``; components: ``[B, K, C, H, W]``; log_masks: ``[B, K, 1, H, W]``;
        sigmas: ``[K]``.
    Returns:
        ``[B]`` nats.
    """
    sig = sigmas.view(1, -1, 1, 1, 1)
    log_p = log_masks - torch.log(sig) - 0.5 * ((x.unsqueeze(1) - components) / sig).pow(2)
    return -torch.logsumexp(log_p, dim=1).sum(dim=(1, 2, 3))


def stick_breaking(logits: Tensor) -> Tensor:
    """Log-masks from per-step logits by stick-breaking; the last component takes the scope.

    Args:
        logits: ``[B, K, 1, H, W]`` attention logits a_k (a_K is unused).
    Returns:
        ``[B, K, 1, H, W]`` log m_k with ``sum_k m_k = 1`` at every pixel.
    """
    log_a = F.logsigmoid(logits[:, :-1])
    log_not_a = F.logsigmoid(-logits[:, :-1])
    # log scope before step k: sum_{j<k} log(1 - a_j)
    log_scope = torch.cumsum(log_not_a, dim=1)
    zero = torch.zeros_like(log_scope[:, :1])
    log_scope_before = torch.cat([zero, log_scope[:, :-1]], dim=1)
    return torch.cat([log_scope_before + log_a, log_scope[:, -1:]], dim=1)


# --- the model -------------------------------------------------------------------------------
class Genesis(ObjectCentricModel):
    """GENESIS: ordered, autoregressive multi-object VAE (see the module docstring)."""

    model_name: ClassVar[str] = "genesis"
    config_class: ClassVar[type] = GenesisConfig
    supports_refinement: ClassVar[bool] = False
    slot_equivariant: ClassVar[bool] = False
    #: the ``two_stage`` value this registry name requires
    default_two_stage: ClassVar[bool] = True

    @property
    def kl_monte_carlo(self) -> bool:
        """True with ``montecarlo_kl`` (official checkpoints): ``kl`` is then the single-sample estimate."""
        return bool(self.config.montecarlo_kl)

    def __init__(self, config: GenesisConfig) -> None:
        if config.two_stage != self.default_two_stage:
            from emorl_eval.errors import ConfigError

            raise ConfigError(
                f"{self.model_name} needs two_stage={self.default_two_stage} "
                "(genesis splits [z^m, z^c]; genesis_s uses one latent set)"
            )
        super().__init__(config)
        cfg = self.config
        dm, dc = cfg.mask_latent_dim, cfg.comp_latent_dim
        norm = cfg.norm == "bn"
        broadcast_masks = cfg.mask_decoder == "broadcast"
        self.mask_vae = GatedMaskVAE(cfg.image_size, dm, norm, cfg.mask_channels, cfg.mask_feature_dim,
                                     with_decoder=not broadcast_masks)
        if broadcast_masks:
            self.mask_decoder = CoordBroadcastDecoder(dm, 1, cfg.mask_channels, cfg.comp_dec_layers, cfg.image_size)
        feat = cfg.mask_feature_dim
        self.q_mean = nn.Linear(feat, dm)
        self.q_std = nn.Linear(feat, dm)
        self.post_lstm = nn.LSTMCell(feat + dm, 2 * dm)
        self.post_head = nn.Linear(2 * dm, 2 * dm)
        if cfg.two_stage:
            self.comp_encoder = ComponentEncoder(cfg.image_size, cfg.comp_enc_channels, dc)
            self.comp_decoder = CoordBroadcastDecoder(dc, 3, cfg.comp_dec_channels, cfg.comp_dec_layers, cfg.image_size)
        else:
            self.comp_decoder = CoordBroadcastDecoder(dm, 3, cfg.comp_dec_channels, cfg.comp_dec_layers, cfg.image_size)
        if cfg.autoreg_prior:
            self.prior_lstm = nn.LSTMCell(dm, 256)
            self.prior_head = nn.Linear(256, 2 * dm)
        if cfg.two_stage and cfg.comp_prior:
            self.comp_prior_mlp = nn.Sequential(
                nn.Linear(dm, 256), nn.ELU(), nn.Linear(256, 256), nn.ELU(), nn.Linear(256, 2 * dc)
            )
        # GECO state (GENESIS form: beta multiplies the KL)
        self.register_buffer("geco_beta", torch.tensor(float(cfg.geco_beta_init)))
        self.register_buffer("geco_err_ema", torch.tensor(float("nan")))

    # --- sizes ---------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        cfg = self.config
        return cfg.mask_latent_dim + (cfg.comp_latent_dim if cfg.two_stage else 0)

    @property
    def _num_elements(self) -> int:
        return 3 * self.config.image_size[0] * self.config.image_size[1]

    # --- inference -----------------------------------------------------------------------------
    def _noise_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        cfg, k = self.config, self.num_slots
        shapes = {"eps_m": (batch, k, cfg.mask_latent_dim)}
        if cfg.two_stage:
            shapes["eps_c"] = (batch, k, cfg.comp_latent_dim)
        return shapes

    def _mask_posterior(self, images: Tensor, eps_m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Autoregressive mask posterior: (z, mu, std) each ``[B, K, Dm]``."""
        h = self.mask_vae.encode(images)
        mu = self.q_mean(h)
        std = _posterior_std(self.q_std(h))
        z = mu + std * eps_m[:, 0]
        zs, mus, stds = [z], [mu], [std]
        state = None
        for k in range(1, self.num_slots):
            state = self.post_lstm(torch.cat([h, z], dim=1), state)
            mu, raw = self.post_head(state[0]).chunk(2, dim=1)
            std = _posterior_std(raw)
            z = mu + std * eps_m[:, k]
            zs.append(z)
            mus.append(mu)
            stds.append(std)
        return torch.stack(zs, 1), torch.stack(mus, 1), torch.stack(stds, 1)

    def _log_masks(self, z_m: Tensor) -> Tensor:
        """``[B, K, Dm] -> [B, K, 1, H, W]`` log-masks by stick-breaking over the slot order."""
        b, k, _ = z_m.shape
        flat = z_m.reshape(b * k, -1)
        logits = self.mask_decoder(flat) if self.config.mask_decoder == "broadcast" else self.mask_vae.decode(flat)
        return stick_breaking(logits.view(b, k, 1, *self.config.image_size))

    def _components(self, z_app: Tensor) -> Tensor:
        """``[B, K, Dz] -> [B, K, 3, H, W]`` RGB in [0, 1]."""
        b, k, _ = z_app.shape
        out = torch.sigmoid(self.comp_decoder(z_app.reshape(b * k, -1)))
        return out.view(b, k, 3, *self.config.image_size)

    def _mask_prior(self, z_m: Tensor) -> tuple[Tensor, Tensor]:
        """Prior parameters of z^m_k given z^m_{<k}: (mu, std) ``[B, K, Dm]``; N(0, I) for k = 1."""
        zeros = torch.zeros_like(z_m[:, 0])
        mus, stds = [zeros], [torch.ones_like(zeros)]
        if not self.config.autoreg_prior:
            return torch.zeros_like(z_m), torch.ones_like(z_m)
        state = None
        for k in range(1, self.num_slots):
            state = self.prior_lstm(z_m[:, k - 1], state)
            mu, std = _prior_params(self.prior_head(state[0]))
            mus.append(mu)
            stds.append(std)
        return torch.stack(mus, 1), torch.stack(stds, 1)

    def _comp_prior(self, z_m: Tensor) -> tuple[Tensor, Tensor]:
        """Prior parameters of z^c_k given z^m_k, ``[B, K, Dc]`` each."""
        if not self.config.comp_prior:
            shape = (*z_m.shape[:2], self.config.comp_latent_dim)
            return z_m.new_zeros(shape), z_m.new_ones(shape)
        return _prior_params(self.comp_prior_mlp(z_m))

    def _nll(self, images: Tensor, components: Tensor, log_masks: Tensor, recon: Tensor) -> Tensor:
        """``[B]`` NLL of ``images [B, 3, H, W]`` (see the module docstring for the options)."""
        cfg = self.config
        if cfg.likelihood == "gmm" and cfg.sigma_first is not None:
            nll = gmm_nll_per_slot(images, components, log_masks, self._slot_sigmas(like=images))
        elif cfg.likelihood == "gmm":
            nll = gmm_nll(images, components, log_masks, cfg.sigma)
        else:
            nll = gaussian_nll(images, recon, cfg.sigma)
        if cfg.nll_constant:
            nll = nll + 0.5 * math.log(2 * math.pi) * images[0].numel()
        return nll

    def _slot_sigmas(self, like: Tensor) -> Tensor:
        """``[K]`` per-component GMM sigma: ``sigma_first`` for k = 1, ``sigma`` after."""
        cfg = self.config
        sigmas = torch.full((self.num_slots,), float(cfg.sigma), dtype=like.dtype, device=like.device)
        if cfg.sigma_first is not None:
            sigmas[0] = float(cfg.sigma_first)
        return sigmas

    def _run(self, images: Tensor, noise: dict[str, Tensor]) -> dict[str, Tensor]:
        """Deterministic given the noise: every output of a forward pass."""
        cfg = self.config
        b, k = images.shape[0], self.num_slots
        z_m, mu_m, std_m = self._mask_posterior(images, noise["eps_m"])
        log_masks = self._log_masks(z_m)
        pm_mu, pm_std = self._mask_prior(z_m)
        kl = kl_normal_normal(mu_m, std_m, pm_mu, pm_std).sum(-1)
        kl_mc = (_normal_log_prob(z_m, mu_m, std_m) - _normal_log_prob(z_m, pm_mu, pm_std)).sum(-1)
        if cfg.two_stage:
            x_rep = images.unsqueeze(1).expand(-1, k, -1, -1, -1)
            enc_in = torch.cat([log_masks, x_rep], dim=2).flatten(0, 1)
            mu_c, raw = self.comp_encoder(enc_in).view(b, k, -1).chunk(2, dim=-1)
            std_c = _posterior_std(raw)
            z_c = mu_c + std_c * noise["eps_c"]
            pc_mu, pc_std = self._comp_prior(z_m)
            kl = kl + kl_normal_normal(mu_c, std_c, pc_mu, pc_std).sum(-1)
            kl_mc = kl_mc + (_normal_log_prob(z_c, mu_c, std_c) - _normal_log_prob(z_c, pc_mu, pc_std)).sum(-1)
            components = self._components(z_c)
            latents = torch.cat([mu_m, mu_c], dim=-1)
        else:
            components = self._components(z_m)
            latents = mu_m
        masks = log_masks.exp()
        recon = (masks * components).sum(1)
        nll = self._nll(images, components, log_masks, recon)
        return {
            "latents": latents,
            "log_masks": log_masks,
            "masks": masks,
            "components": components,
            "recon": recon,
            "nll": nll,
            "kl": kl.sum(1),
            "kl_mc": kl_mc.sum(1),
        }

    def draw_noise(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """All standard-normal noise of one forward pass: ``eps_m [B, K, Dm]`` and, for the
        two-stage model, ``eps_c [B, K, Dc]`` (pass it back as ``forward(noise=...)``)."""
        return self._draw_noise(batch_size, self.geco_beta, generator)

    def _draw_noise(self, batch: int, like: Tensor, generator: torch.Generator | None) -> dict[str, Tensor]:
        """The noise of one forward pass in the official order and layout: K draws ``[B, Dm]``
        (z^m_1..z^m_K), then one ``[K B, Dc]`` (component latents, row ``k B + b``)."""
        cfg, k = self.config, self.num_slots
        eps_m = torch.stack([randn((batch, cfg.mask_latent_dim), like, generator) for _ in range(k)], dim=1)
        noise = {"eps_m": eps_m}
        if cfg.two_stage:
            eps_c = randn((k * batch, cfg.comp_latent_dim), like, generator)
            noise["eps_c"] = eps_c.view(k, batch, -1).transpose(0, 1)
        return noise

    def forward(
        self,
        images: Tensor,
        refinement_steps: int | None = None,
        generator: torch.Generator | None = None,
        decode_stages: bool = False,
        noise: dict[str, Tensor] | None = None,
    ) -> ModelOutput:
        """Infer, decode and score ``images [B, 3, H, W]`` in [0, 1] (``refinement_steps`` is
        ignored: GENESIS infers each component once); ``noise`` (:meth:`draw_noise`) replaces the
        draws from ``generator`` (zeros: the posterior means)."""
        if noise is None:
            noise = self._draw_noise(images.shape[0], images, generator)
        out = self._run(images, noise)
        nll = out["nll"]
        kl = kl_loss = out["kl_mc"] if self.config.montecarlo_kl else out["kl"]
        loss = nll.mean() + self._kl_weight() * kl_loss.mean()
        stage = StageOutput(
            name="posterior", means=out["latents"], masks=out["masks"], recon=out["recon"], nll=nll, kl=kl
        )
        return ModelOutput(
            loss=loss,
            nll=nll,
            kl=kl,
            recon=out["recon"],
            masks=out["masks"],
            components=out["components"],
            latents=out["latents"],
            stages=[stage],
            extras=self._geco_extras(nll),
        )

    def _geco_extras(self, nll: Tensor) -> dict[str, Tensor]:
        """GECO diagnostics; before the first update the EMA shows the batch NLL it starts from.
        With a KL warm-up also ``kl_weight``, the KL's weight in this step's loss."""
        ema = self.geco_err_ema.detach()
        if torch.isnan(ema):
            ema = nll.detach().mean().to(ema)
        extras = {"geco_beta": self.geco_beta.detach().clone(), "geco_err_ema": ema.clone()}
        if self.config.kl_warmup_steps > 0:
            extras["kl_weight"] = torch.as_tensor(self._kl_weight()).detach().to(ema).clone()
        return extras

    def _kl_weight(self) -> Tensor | float:
        """The KL's weight in the loss: GECO's beta (or ``kl_beta`` without GECO), times
        ``min(1, step / kl_warmup_steps)`` in training with a KL warm-up (the step of the last
        :meth:`on_train_step`)."""
        cfg = self.config
        weight: Tensor | float = self.geco_beta if cfg.use_geco else cfg.kl_beta
        step = getattr(self, "_train_step", None)
        if cfg.kl_warmup_steps > 0 and self.training and step is not None:
            weight = weight * min(1.0, step / cfg.kl_warmup_steps)
        return weight

    # --- training hooks ------------------------------------------------------------------------
    def on_train_step(self, step: int) -> None:
        """Remember the global training step (the KL warm-up's position)."""
        self._train_step = int(step)

    def after_backward(self, output: ModelOutput) -> None:
        """GECO update of beta from the batch NLL (GENESIS's multiplicative rule)."""
        cfg = self.config
        if not (cfg.use_geco and self.training):
            return
        with torch.no_grad():
            err = output.nll.detach().mean().to(self.geco_err_ema)
            if torch.isnan(self.geco_err_ema):
                self.geco_err_ema.copy_(err)
            else:
                self.geco_err_ema.mul_(cfg.geco_alpha).add_((1.0 - cfg.geco_alpha) * err)
            goal = cfg.geco_goal * self._num_elements
            step = cfg.geco_lr * (64.0**2 / (cfg.image_size[0] * cfg.image_size[1]))
            constraint = goal - self.geco_err_ema
            if constraint > 0:
                step = step * cfg.geco_speedup
            self.geco_beta.mul_(torch.exp(step * constraint)).clamp_(cfg.geco_beta_min, 1e10)

    def training_schedule(self) -> dict[str, Any]:
        return {"lr": 1e-4, "clip_grad_norm": None}

    # --- decoding and sampling -----------------------------------------------------------------
    def decode(self, z: Tensor) -> DecodedScene:
        """Decode ``z [B, K, D]`` (``[z^m, z^c]``, or ``z`` for GENESIS-S) in slot order."""
        dm = self.config.mask_latent_dim
        z_m = z[..., :dm]
        log_masks = self._log_masks(z_m)
        components = self._components(z[..., dm:] if self.config.two_stage else z_m)
        masks = log_masks.exp()
        return DecodedScene(
            recon=(masks * components).sum(1), masks=masks, components=components, mask_logits=log_masks
        )

    def _prior_from_noise(self, eps: Tensor) -> Tensor:
        """Ancestral prior sample from explicit noise ``eps [B, K, D]`` -> ``z [B, K, D]``."""
        cfg = self.config
        dm = cfg.mask_latent_dim
        eps_m = eps[..., :dm]
        zs = [eps_m[:, 0]]
        state = None
        for k in range(1, self.num_slots):
            if cfg.autoreg_prior:
                state = self.prior_lstm(zs[-1], state)
                mu, std = _prior_params(self.prior_head(state[0]))
                zs.append(mu + std * eps_m[:, k])
            else:
                zs.append(eps_m[:, k])
        z_m = torch.stack(zs, 1)
        if not cfg.two_stage:
            return z_m
        mu_c, std_c = self._comp_prior(z_m)
        return torch.cat([z_m, mu_c + std_c * eps[..., dm:]], dim=-1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` ancestral samples ``[n, K, D]`` from the autoregressive prior."""
        like = self.geco_beta
        eps = randn((n, self.num_slots, self.latent_dim), like, generator)
        return self._prior_from_noise(eps)

    # --- symmetry probes -----------------------------------------------------------------------
    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """Inference, decoder and prior as pure functions of explicit noise; GENESIS does not claim
        slot-permutation equivariance (``claimed=False``): the checker reports the deviation."""
        h, w = self.config.image_size
        k, d = self.num_slots, self.latent_dim

        def like() -> Tensor:
            return self.geco_beta

        def inference_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            inputs = {"image": torch.rand((batch, 3, h, w), generator=gen).to(like())}
            inputs.update({name: randn(shape, like(), gen) for name, shape in self._noise_shapes(batch).items()})
            return inputs

        def inference(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                out = self._run(inputs["image"], inputs)
            return {"latents": out["latents"], "masks": out["masks"], "recon": out["recon"]}

        def decoder_inputs(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
            return {"z": randn((batch, k, d), like(), gen)}

        def decoder(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                scene = self.decode(inputs["z"])
            return {"recon": scene.recon, "masks": scene.masks, "components": scene.components}

        def prior(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
            with eval_mode(self), torch.no_grad():
                return {"z": self._prior_from_noise(inputs["eps"])}

        return [
            EquivarianceProbe(
                name="inference",
                fn=inference,
                make_inputs=inference_inputs,
                fixed_keys=("image",),
                invariant_keys=("recon",),
                claimed=False,
            ),
            EquivarianceProbe(
                name="decoder",
                fn=decoder,
                make_inputs=decoder_inputs,
                invariant_keys=("recon",),
                claimed=False,
            ),
            EquivarianceProbe(
                name="prior",
                fn=prior,
                make_inputs=lambda batch, gen: {"eps": randn((batch, k, d), like(), gen)},
                claimed=False,
            ),
        ]


class GenesisS(Genesis):
    """GENESIS-S: GENESIS with a single latent set per component (``two_stage=False``)."""

    model_name: ClassVar[str] = "genesis_s"
    default_two_stage: ClassVar[bool] = False

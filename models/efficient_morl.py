"""EfficientMORL (Emami et al., ICML 2021): a hierarchical VAE with a bottom-up posterior of L
stochastic layers (set attention + DualGRU), a hierarchical prior, and I steps of iterative
refinement, behind the common interface of :mod:`models.interface`.

Faithful to appendix F and to the official code (the one that produced official checkpoints);
the few places where the paper and the code disagree follow the code (see ``emorl_reference.md``).
Official state dicts load with :data:`OFFICIAL_KEY_MAP` (see :mod:`models.checkpoints`).

Noise: every random draw of a forward pass is an explicit input (:class:`EMORLNoise`, slot axis
at dim 1), so a forward pass is a pure function of (weights, images, noise). With ``noise=None``
it is drawn from ``generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models.components.init import INIT_SCHEMES, standard_init
from emorl_eval.models.components import (
    DECODER_KINDS,
    GECO,
    LIKELIHOODS,
    PRIOR_VARIANTS,
    HierarchicalPrior,
    ImageEncoder,
    PosteriorLayer,
    RefinementNetwork,
    SpatialBroadcastDecoder,
    image_nll,
    kl_normal_normal,
    kl_standard_normal,
    softplus_to_std,
)
from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)

ENCODER_CHANNELS = 64


@dataclass
class EMORLConfig:
    """Every hyper-parameter of EfficientMORL, including the ablated variants (Table 2).

    Attributes:
        image_size: (H, W) of the input images.
        num_slots: K.
        latent_dim: D (``z_size``).
        num_layers: L, bottom-up stochastic layers (shared weights).
        refinement_steps: I, refinement steps (the training curriculum may change it).
        dual_gru: DualGRU (True) or a standard GRU of hidden size 2D.
        prior: ``reversed_plus_plus`` (default), ``reversed`` or ``bottom_up`` (Figure 12).
        likelihood: ``gaussian`` (eq. 12) or ``gmm`` (eq. 13).
        sigma: the fixed pixel standard deviation of the likelihood.
        decoder: ``small`` (Tetrominoes), ``iodine`` or ``big``.
        kl_beta: weight of the KL (1 in the paper).
        use_geco: GECO objective after ``geco_warm_start`` training steps.
        geco_target: reconstruction target C per pixel-channel (C = geco_target * 3 * H * W nats).
        geco_alpha, geco_step_size, geco_warm_start, geco_beta_init: GECO settings (F.2).
        init: ``reference`` (Xavier-normal gain 0.02, as the official code) or ``standard``
            (gain 1, small decoder output layer; see ``models.components.init.standard_init``).
    """

    image_size: tuple[int, int] = (35, 35)
    num_slots: int = 4
    latent_dim: int = 32
    num_layers: int = 3
    refinement_steps: int = 3
    dual_gru: bool = True
    prior: str = "reversed_plus_plus"
    likelihood: str = "gaussian"
    sigma: float = 0.3
    decoder: str = "small"
    kl_beta: float = 1.0
    use_geco: bool = True
    geco_target: float = -4500.0 / 3675.0
    geco_alpha: float = 0.99
    geco_step_size: float = 1e-6
    geco_warm_start: int = 1000
    geco_beta_init: float = 0.55
    init: str = "reference"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        h, w = self.image_size
        checks = [
            (h > 0 and w > 0, f"image_size must be positive, got {self.image_size}"),
            (self.num_slots >= 1, f"num_slots must be >= 1, got {self.num_slots}"),
            (self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}"),
            (self.num_layers >= 1, f"num_layers must be >= 1, got {self.num_layers}"),
            (self.refinement_steps >= 0, f"refinement_steps must be >= 0, got {self.refinement_steps}"),
            (self.prior in PRIOR_VARIANTS, f"prior must be one of {', '.join(PRIOR_VARIANTS)}, got {self.prior!r}"),
            (self.likelihood in LIKELIHOODS, f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}"),
            (self.decoder in DECODER_KINDS, f"decoder must be one of {', '.join(DECODER_KINDS)}, got {self.decoder!r}"),
            (self.sigma > 0, f"sigma must be > 0, got {self.sigma}"),
            (self.init in INIT_SCHEMES, f"init must be one of {', '.join(INIT_SCHEMES)}, got {self.init!r}"),
            (self.decoder != "big" or (h % 16 == 0 and w % 16 == 0),
             f"decoder 'big' needs image sides divisible by 16, got {h}x{w}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class EMORLNoise:
    """All standard-normal noise of one forward pass (slot axis at dim 1).

    Attributes:
        z0: ``[B, K, D]`` the symmetry-breaking sample of the initial posterior.
        layers: ``[B, K, L, D]`` the sample of each bottom-up layer.
        prior: ``[B, K, L-1, D]`` the fresh posterior samples that condition the prior layers
            (index l: the sample feeding the prior of layer l+1 (reversed) / l+2 (bottom-up)).
        refine: ``[B, K, I, D]`` the sample of each refinement step.
    """

    z0: Tensor
    layers: Tensor
    prior: Tensor
    refine: Tensor

    def as_dict(self) -> dict[str, Tensor]:
        """``{"noise_z0", "noise_layers", "noise_prior", "noise_refine"}``."""
        return {"noise_z0": self.z0, "noise_layers": self.layers, "noise_prior": self.prior,
                "noise_refine": self.refine}

    @classmethod
    def from_dict(cls, d: dict[str, Tensor]) -> "EMORLNoise":
        return cls(d["noise_z0"], d["noise_layers"], d["noise_prior"], d["noise_refine"])


@dataclass
class _Posterior:
    """Gaussian posterior of one stage: mean, softplus parameter, std, sample (all ``[B, K, D]``)."""

    mu: Tensor
    s: Tensor
    std: Tensor
    z: Tensor


@dataclass
class _Step:
    """What one inference step (0 = after the bottom-up layers, i >= 1 = refinement) computed."""

    nll: Tensor
    kl: Tensor
    loss: Tensor
    components: Tensor
    log_masks: Tensor
    recon: Tensor
    mu: Tensor


class _FusedDecodeNLL(torch.autograd.Function):
    """Decode + per-image NLL whose backward computes the decoder's input *and* weight gradients
    in one pass and reuses them.

    Each step loss ``loss_i`` (i < I) is differentiated twice: once w.r.t. lambda for the
    refinement input (``autograd.grad``) and once inside ``total.backward()`` with weight
    ``w_i``. Both backward passes see gradients w.r.t. the NLL that are proportional (``g`` and
    ``w_i g``), so the second one is the first one scaled: the first call computes everything
    (one traversal of the decoder instead of two) and the second call rescales the cached result.
    If a later gradient is not proportional (another objective), it is recomputed exactly.
    """

    @staticmethod
    def forward(ctx, z: Tensor, runner: Any, *params: Tensor):  # type: ignore[override]
        with torch.enable_grad():
            z_leaf = z.detach().requires_grad_(True)
            nll, components, log_masks, recon = runner(z_leaf)
        ctx.z_leaf, ctx.nll, ctx.params, ctx.cache = z_leaf, nll, params, None
        outputs = (nll.detach(), components.detach(), log_masks.detach(), recon.detach())
        ctx.mark_non_differentiable(*outputs[1:])
        return outputs

    @staticmethod
    def backward(ctx, grad_nll: Tensor, *unused: Tensor):  # type: ignore[override]
        wanted = [ctx.z_leaf] + [p for p in ctx.params if p.requires_grad]
        if ctx.cache is not None:
            g0, grads0 = ctx.cache
            ratio = (grad_nll * g0).sum() / (g0 * g0).sum().clamp_min(1e-300)
            if torch.allclose(grad_nll, ratio * g0, rtol=1e-6, atol=0.0):
                ctx.cache = None
                grads = [g * ratio if g is not None else None for g in grads0]
                return _FusedDecodeNLL._pack(ctx, grads)
        grads = torch.autograd.grad(ctx.nll, wanted, grad_nll, retain_graph=True, allow_unused=True)
        ctx.cache = (grad_nll.detach(), grads)
        return _FusedDecodeNLL._pack(ctx, list(grads))

    @staticmethod
    def _pack(ctx, grads: list) -> tuple:
        out: list = [grads[0], None]
        it = iter(grads[1:])
        for p in ctx.params:
            out.append(next(it) if p.requires_grad else None)
        return tuple(out)


# official ``module.``-stripped key prefix -> our prefix (longest prefixes first)
OFFICIAL_KEY_MAP: tuple[tuple[str, str], ...] = (
    ("hvae_networks.image_decoder.pos_embed_projection.", "decoder.pos_proj."),
    ("hvae_networks.image_decoder.", "decoder."),
    ("hvae_networks.indep_prior.", "prior."),
    ("hvae_networks.init_posterior", "init_posterior"),
    ("hvae_networks.pos_embed_projection.", "encoder.pos_proj."),
    ("hvae_networks.encoder_pt_1.", "encoder.conv."),
    ("hvae_networks.encoder_pt_2.", "encoder.mlp."),
    ("hvae_networks.norm_slots.", "layer.attention.norm_slots."),
    ("hvae_networks.to_q.", "layer.attention.to_q."),
    ("hvae_networks.to_k.", "layer.attention.to_k."),
    ("hvae_networks.to_v.", "layer.attention.to_v."),
    ("hvae_networks.gru.cell.", "layer.gru."),
    ("hvae_networks.gru.", "layer.gru.gru."),
    ("hvae_networks.project_update.", "layer.project_update."),
    ("hvae_networks.norm_mu_pre_ff.", "layer.norm_mu."),
    ("hvae_networks.norm_softplus_pre_ff.", "layer.norm_softplus."),
    ("hvae_networks.mlp_mu.", "layer.mlp_mu."),
    ("hvae_networks.mlp_softplus.", "layer.mlp_softplus."),
    ("refinenet.", "refinement."),
    ("geco_C_ema", "geco.geco_C_ema"),
    ("geco_beta", "geco.geco_beta"),
)


def official_to_ours(key: str) -> str | None:
    """Map an official state-dict key (without ``module.``) to ours; None if unknown."""
    for old, new in OFFICIAL_KEY_MAP:
        if key.startswith(old):
            return new + key[len(old):]
    return None


def ours_to_official(key: str) -> str | None:
    """Inverse of :func:`official_to_ours` (the longest matching prefix wins)."""
    matches = [(old, new) for old, new in OFFICIAL_KEY_MAP if key.startswith(new)]
    if not matches:
        return None
    old, new = max(matches, key=lambda pair: len(pair[1]))
    return old + key[len(new):]


class EfficientMORL(ObjectCentricModel):
    """EfficientMORL: bottom-up hierarchical posterior + refinement, see the module docstring."""

    model_name: ClassVar[str] = "emorl"
    supports_refinement: ClassVar[bool] = True
    slot_equivariant: ClassVar[bool] = True
    config_class: ClassVar[type] = EMORLConfig

    def __init__(self, config: EMORLConfig) -> None:
        config.validate()
        super().__init__(config)
        d = config.latent_dim
        self.encoder = ImageEncoder(config.image_size, 3, ENCODER_CHANNELS)
        self.layer = PosteriorLayer(d, ENCODER_CHANNELS, dual_gru=config.dual_gru)
        self.decoder = SpatialBroadcastDecoder(config.decoder, d, config.image_size)
        self.prior = HierarchicalPrior(d)
        self.refinement = RefinementNetwork(d)
        # trainable initial posterior [mu0, s0], initialised to [0, 1]
        self.init_posterior = nn.Parameter(torch.cat([torch.zeros(1, d), torch.ones(1, d)], dim=1))
        h, w = config.image_size
        self.geco = GECO(config.geco_target * 3 * h * w, alpha=config.geco_alpha,
                         step_size=config.geco_step_size, warm_start=config.geco_warm_start,
                         beta_init=config.geco_beta_init)
        #: training step set by the trainer (None = a trained model: GECO past its warm start)
        self.train_step: int | None = None
        #: benchmark switch: run the reference's computation literally (second-order graph for
        #: the refinement gradients, plain broadcast decoding, contiguous convolutions, separate
        #: backward passes for refinement and training); same values, slower
        self.reference_mode = False
        if config.init == "standard":
            standard_init(self, [self.decoder.decode[-1]])

    # --- noise -------------------------------------------------------------------------------
    def draw_noise(self, batch_size: int, refinement_steps: int | None = None,
                   generator: torch.Generator | None = None, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> EMORLNoise:
        """Draw all noise of a forward pass from ``generator`` (one ``randn`` per field, in the
        order z0, layers, prior, refine)."""
        i_steps = self.config.refinement_steps if refinement_steps is None else refinement_steps
        k, d, n_layers = self.num_slots, self.latent_dim, self.config.num_layers
        ref = self.init_posterior
        device = device if device is not None else ref.device
        dtype = dtype if dtype is not None else ref.dtype

        def randn(*shape: int) -> Tensor:
            if generator is not None and torch.device(generator.device).type != torch.device(device).type:
                return torch.randn(shape, generator=generator, dtype=dtype).to(device)
            return torch.randn(shape, generator=generator, device=device, dtype=dtype)

        return EMORLNoise(
            z0=randn(batch_size, k, d),
            layers=randn(batch_size, k, n_layers, d),
            prior=randn(batch_size, k, max(n_layers - 1, 0), d),
            refine=randn(batch_size, k, i_steps, d),
        )

    # --- building blocks -----------------------------------------------------------------------
    def _posterior(self, mu: Tensor, s: Tensor, noise: Tensor) -> _Posterior:
        std = softplus_to_std(s)
        return _Posterior(mu, s, std, mu + std * noise)

    def encode_features(self, images: Tensor) -> Tensor:
        """Positionally-encoded, flattened encoder features ``[B, N=H*W, 64]`` of images in [0, 1]."""
        self.encoder.channels_last = not self.reference_mode
        return self.encoder.positional_features(images * 2.0 - 1.0)

    def bottom_up(self, features: Tensor, z0_noise: Tensor, layer_noise: Tensor
                  ) -> tuple[list[_Posterior], list[Tensor]]:
        """The L bottom-up layers from positionally-encoded features ``[B, N, 64]``.

        Returns:
            the posterior of each layer (``[B, K, D]`` fields) and the attention of each layer
            ``[B, K, N]``.
        """
        b = features.shape[0]
        k, d = self.num_slots, self.latent_dim
        keys, values = self.layer.attention.keys_values(self.encoder.project(features))
        mu0, s0 = self.init_posterior.view(1, 1, 2 * d).expand(b, k, 2 * d).split(d, dim=-1)
        post = self._posterior(mu0, s0, z0_noise)
        posteriors: list[_Posterior] = []
        attentions: list[Tensor] = []
        for layer in range(self.config.num_layers):
            mu, s, attn = self.layer(post.z, post.mu, post.s, keys, values)
            post = self._posterior(mu, s, layer_noise[:, :, layer])
            posteriors.append(post)
            attentions.append(attn)
        return posteriors, attentions

    def _decode_logits(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, K, D]`` -> (components ``[B, K, 3, H, W]``, log-masks ``[B, K, 1, H, W]``)."""
        self.decoder.fast_first_layer = self.config.decoder in ("iodine", "small") and not self.reference_mode
        self.decoder.channels_last = not self.reference_mode
        components, mask_logits = self.decoder.decode_slots(z)
        return components, F.log_softmax(mask_logits, dim=1)

    def _nll(self, target: Tensor, components: Tensor, log_masks: Tensor) -> tuple[Tensor, Tensor]:
        """(per-image NLL ``[B]``, recon ``[B, 3, H, W]``)."""
        recon = (log_masks.exp() * components).sum(dim=1)
        nll = image_nll(self.config.likelihood, target, components, log_masks, self.config.sigma, recon=recon)
        return nll, recon

    def _kl_sum(self, kl: Tensor) -> Tensor:
        """Elementwise KL ``[B, K, D]`` -> per image ``[B]``."""
        return kl.sum(dim=(1, 2))

    def hierarchical_kl(self, posteriors: list[_Posterior], prior_noise: Tensor
                        ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """KL of step 0 summed over layers, per image ``[B]``, and the (mu, std) of the prior the
        refinement KL uses (``None`` = standard normal).

        reversed (and ++): p(z^L) = N(0, I), p(z^l | z^{l+1}) from a fresh sample of q^{l+1};
        bottom-up: p(z^1) = N(0, I), p(z^l | z^{l-1}) from a fresh sample of q^{l-1}.
        """
        n_layers = len(posteriors)
        total = posteriors[0].mu.new_zeros(posteriors[0].mu.shape[0])
        last_prior: tuple[Tensor, Tensor] | None = None
        if self.config.prior == "bottom_up":
            order = list(range(n_layers))
            std_layer, source = 0, (lambda l: l - 1)
        else:
            order = list(range(n_layers))[::-1]
            std_layer, source = n_layers - 1, (lambda l: l + 1)
        for layer in order:
            q = posteriors[layer]
            if layer == std_layer:
                kl = kl_standard_normal(q.mu, q.std)
                last_prior = None
            else:
                src = posteriors[source(layer)]
                noise_index = min(layer, source(layer))
                z = src.mu + src.std * prior_noise[:, :, noise_index]
                p_mu, p_s = self.prior(z)
                p_std = softplus_to_std(p_s)
                kl = kl_normal_normal(q.mu, q.std, p_mu, p_std)
                last_prior = (p_mu, p_std)
            total = total + self._kl_sum(kl)
        refine_prior = last_prior if self.config.prior == "reversed_plus_plus" else None
        return total, refine_prior

    def _step_loss(self, nll: Tensor, kl: Tensor) -> Tensor:
        """Step loss from per-image NLL and KL: ELBO, or the GECO objective while training."""
        beta = self.config.kl_beta
        if self.training and self.config.use_geco and beta != 0 and self.geco.active(self.train_step):
            return self.geco.loss(nll.mean(), kl.mean(), beta)
        return (nll + beta * kl).mean()

    @staticmethod
    def step_weight(step: int, refinement_steps: int) -> float:
        """Weight of step ``i`` in the total loss: ``(I + 3 - i) / (I + 1)`` (earlier steps weigh more)."""
        return (refinement_steps + 3 - step) / (refinement_steps + 1)

    # --- forward -------------------------------------------------------------------------------
    def forward(self, images: Tensor, refinement_steps: int | None = None,
                generator: torch.Generator | None = None, decode_stages: bool = False,
                noise: EMORLNoise | None = None) -> ModelOutput:
        """Infer, decode and score ``images [B, 3, H, W]`` in [0, 1].

        Args:
            refinement_steps: I (None = ``config.refinement_steps``).
            generator: source of the noise when ``noise`` is None.
            decode_stages: also decode the intermediate bottom-up layers (figures).
            noise: explicit noise (:meth:`draw_noise`), for reproducible / symmetry computations.
        """
        n_steps = self.config.refinement_steps if refinement_steps is None else int(refinement_steps)
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != self.image_size:
            from emorl_eval.errors import DataError

            raise DataError(f"images have shape {list(images.shape)}, the model expects [B, 3, "
                            f"{self.image_size[0]}, {self.image_size[1]}]")
        if n_steps < 0:
            raise ValueError(f"refinement_steps must be >= 0, got {n_steps}")
        b = images.shape[0]
        if noise is None:
            noise = self.draw_noise(b, n_steps, generator, images.device, images.dtype)
        self._check_noise(noise, b, n_steps)
        features = self.encode_features(images)
        posteriors, attentions = self.bottom_up(features, noise.z0, noise.layers)
        return self._inference_head(images, posteriors, attentions, noise, n_steps, decode_stages)

    def _check_noise(self, noise: EMORLNoise, batch_size: int, n_steps: int) -> None:
        k, d, n_layers = self.num_slots, self.latent_dim, self.config.num_layers
        expected = {"z0": (batch_size, k, d), "layers": (batch_size, k, n_layers, d),
                    "prior": (batch_size, k, max(n_layers - 1, 0), d)}
        for name, shape in expected.items():
            if tuple(getattr(noise, name).shape) != shape:
                raise ValueError(f"noise.{name} has shape {tuple(getattr(noise, name).shape)}, expected {shape}")
        refine = tuple(noise.refine.shape)
        if refine[:2] != (batch_size, k) or refine[3:] != (d,) or refine[2] < n_steps:
            raise ValueError(f"noise.refine has shape {refine}, expected ({batch_size}, {k}, >={n_steps}, {d})")

    def _inference_head(self, images: Tensor, posteriors: list[_Posterior], attentions: list[Tensor],
                        noise: EMORLNoise, n_steps: int, decode_stages: bool) -> ModelOutput:
        """Step 0 (decode the last layer, hierarchical KL) and the refinement steps."""
        grad_outer = torch.is_grad_enabled()
        d = self.latent_dim
        last = posteriors[-1]
        lam = torch.cat([last.mu, last.s], dim=-1)  # [B, K, 2D]: what refinement differentiates
        if not grad_outer:
            # no graph outside: differentiate the step losses w.r.t. a leaf copy of lambda only
            lam = lam.detach().requires_grad_(n_steps > 0)
        steps: list[_Step] = []
        deltas: list[Tensor] = []
        with torch.set_grad_enabled(grad_outer or n_steps > 0):
            mu, s = lam.split(d, dim=-1)
            posteriors = posteriors[:-1] + [self._posterior(mu, s, noise.layers[:, :, -1])]
            kl, refine_prior = self.hierarchical_kl(posteriors, noise.prior)
            # share the decoder backward between refinement and the trainer's backward (training
            # only: in eval mode nobody differentiates the loss w.r.t. the weights)
            fuse = grad_outer and self.training and not self.reference_mode
            steps.append(self._decode_step(images, posteriors[-1], kl, fused=fuse and n_steps > 0))
            hidden = lam.new_zeros(lam.shape[0], lam.shape[1], d)
            for i in range(1, n_steps + 1):
                create_graph = self.reference_mode and grad_outer and self.training
                (grad,) = torch.autograd.grad(steps[-1].loss, lam, retain_graph=grad_outer or create_graph,
                                              create_graph=create_graph)
                delta, hidden = self.refinement(lam, self.refinement.normalize_gradients(grad), hidden)
                lam = lam + delta
                if not grad_outer:
                    lam = lam.detach().requires_grad_(i < n_steps)
                    hidden = hidden.detach()
                deltas.append(delta.detach().reshape(-1, 2 * d).norm(dim=1).mean())
                mu, s = lam.split(d, dim=-1)
                post = self._posterior(mu, s, noise.refine[:, :, i - 1])
                if refine_prior is None:
                    kl = self._kl_sum(kl_standard_normal(post.mu, post.std))
                else:
                    kl = self._kl_sum(kl_normal_normal(post.mu, post.std, *refine_prior))
                steps.append(self._decode_step(images, post, kl, fused=fuse and i < n_steps))
            total = sum(self.step_weight(i, n_steps) * st.loss for i, st in enumerate(steps))
        return self._assemble(images, posteriors, attentions, steps, deltas, total, decode_stages, grad_outer)

    def _decode_step(self, images: Tensor, post: _Posterior, kl: Tensor, fused: bool = False) -> _Step:
        """Decode the step's sample and score it. ``fused``: the step's loss will be
        differentiated for refinement and again by the trainer (see :class:`_FusedDecodeNLL`)."""

        def run(z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            components, log_masks = self._decode_logits(z)
            nll, recon = self._nll(images, components, log_masks)
            return nll, components, log_masks, recon

        params = [p for p in self.decoder.parameters()]
        if fused and any(p.requires_grad for p in params):
            nll, components, log_masks, recon = _FusedDecodeNLL.apply(post.z, run, *params)
        else:
            nll, components, log_masks, recon = run(post.z)
        return _Step(nll, kl, self._step_loss(nll, kl), components, log_masks, recon, post.mu)

    def _assemble(self, images: Tensor, posteriors: list[_Posterior], attentions: list[Tensor],
                  steps: list[_Step], deltas: list[Tensor], total: Tensor, decode_stages: bool,
                  grad_outer: bool) -> ModelOutput:
        h, w = self.image_size
        b, k = images.shape[0], self.num_slots
        n_layers = len(posteriors)
        stages: list[StageOutput] = []
        for layer, (post, attn) in enumerate(zip(posteriors, attentions)):
            stage = StageOutput(name=f"layer{layer + 1}", means=post.mu.detach(),
                                attention=attn.detach().reshape(b, k, h, w))
            if layer == n_layers - 1:
                st = steps[0]
                stage.masks, stage.recon = st.log_masks.exp().detach(), st.recon.detach()
                stage.nll, stage.kl = st.nll.detach(), st.kl.detach()
            elif decode_stages:
                with torch.no_grad():
                    components, log_masks = self._decode_logits(post.z)
                    nll, recon = self._nll(images, components, log_masks)
                stage.masks, stage.recon, stage.nll = log_masks.exp(), recon, nll
            stages.append(stage)
        for i, st in enumerate(steps[1:], start=1):
            stages.append(StageOutput(name=f"refine{i}", means=st.mu.detach(), masks=st.log_masks.exp().detach(),
                                      recon=st.recon.detach(), nll=st.nll.detach(), kl=st.kl.detach()))
        final = steps[-1]
        extras: dict[str, Tensor] = {
            "geco_beta": self.geco.geco_beta.detach().clone(),
            "geco_C_ema": self.geco.geco_C_ema.detach().clone(),
            "nll_mean": final.nll.detach().mean(),
        }
        for i, delta in enumerate(deltas, start=1):
            extras[f"delta_norm_{i}"] = delta
        out = ModelOutput(loss=total, nll=final.nll, kl=final.kl, recon=final.recon,
                          masks=final.log_masks.exp(), components=final.components, latents=final.mu,
                          stages=stages, extras=extras)
        if not grad_outer:
            for name in ("loss", "nll", "kl", "recon", "masks", "components", "latents"):
                setattr(out, name, getattr(out, name).detach())
        return out

    # --- decode / generate ---------------------------------------------------------------------
    def decode(self, z: Tensor) -> DecodedScene:
        """Decode slot latents ``z [B, K, D]``."""
        components, log_masks = self._decode_logits(z)
        masks = log_masks.exp()
        return DecodedScene(recon=(masks * components).sum(dim=1), masks=masks, components=components,
                            mask_logits=log_masks)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``[n, K, D]`` latents from the prior that regularises the decoded (final) posterior:
        reversed prior++: z^L ~ N(0, I) then down the prior net to z^1; reversed: z^L ~ N(0, I);
        bottom-up: z^1 ~ N(0, I) then up the prior net to z^L."""
        k, d, n_layers = self.num_slots, self.latent_dim, self.config.num_layers
        ref = self.init_posterior
        eps = torch.randn((n, k, n_layers, d), generator=generator, dtype=ref.dtype,
                          device=generator.device if generator is not None else ref.device).to(ref.device)
        z = eps[:, :, 0]
        if self.config.prior == "reversed":
            return z
        for layer in range(1, n_layers):
            p_mu, p_s = self.prior(z)
            z = p_mu + softplus_to_std(p_s) * eps[:, :, layer]
        return z

    # --- training hooks ------------------------------------------------------------------------
    def on_train_step(self, step: int) -> None:
        """Record the global step (GECO warm start)."""
        self.train_step = int(step)

    def after_backward(self, output: ModelOutput) -> None:
        """GECO: initialise / update the EMA of C - NLL and take the Lagrange step (F.2)."""
        if self.config.use_geco and self.config.kl_beta != 0 and self.train_step is not None:
            self.geco.update(output.nll.detach().mean(), self.train_step)

    def training_schedule(self) -> dict[str, Any]:
        """Training hyper-parameters of the reference for this model's preset (lr, warm-up,
        clipping, refinement curriculum); the shared defaults when the preset is unknown."""
        from emorl_eval.models.presets import available_presets, base_training_defaults, training_defaults

        preset = getattr(self, "preset", None)
        if preset in available_presets(self.model_name):
            return training_defaults(self.model_name, preset)
        return base_training_defaults()

    # --- symmetry probes -------------------------------------------------------------------------
    def equivariance_probes(self) -> list[EquivarianceProbe]:
        from emorl_eval.models.emorl_probes import equivariance_probes

        return equivariance_probes(self)

    def input_order_probe(self) -> EquivarianceProbe | None:
        from emorl_eval.models.emorl_probes import input_order_probe

        return input_order_probe(self)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


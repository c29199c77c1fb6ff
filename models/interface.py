"""The one interface every model of emorl-eval implements.

Metrics, DCI, symmetry checks, training and reports use models only through
:class:`ObjectCentricModel` and :class:`ModelOutput`; they never ask which model they hold.

Conventions (shared by all models):

* images are float tensors ``[B, 3, H, W]`` in ``[0, 1]``; a model that works in ``[-1, 1]``
  converts internally;
* ``K`` is the number of slots, ``D`` the per-slot latent size;
* masks are normalised over ``K`` (they sum to 1 at every pixel);
* ``nll`` and ``kl`` are per image, in nats, with the model's own likelihood;
* randomness is explicit: every sampling call takes an optional ``torch.Generator``, so a
  seeded forward pass is reproducible (and the symmetry checks can fix the noise).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn


@dataclass
class StageOutput:
    """What one inference stage produced (a stochastic layer or a refinement step).

    Attributes:
        name: ``"layer1".."layerL"`` for bottom-up layers, ``"refine1".."refineI"`` for
            refinement steps, ``"iter1"..`` for Slot Attention iterations, ``"step1"..`` for IODINE.
        means: posterior means (or slots) after this stage, ``[B, K, D]``.
        masks: decoded masks ``[B, K, 1, H, W]`` normalised over K, or ``None`` when the stage
            is not decoded (EfficientMORL decodes intermediate layers only when asked).
        recon: decoded image ``[B, 3, H, W]`` or ``None``.
        attention: set-attention weights ``[B, K, H, W]`` (normalised over K) or ``None``.
        nll: per-image NLL ``[B]`` at this stage or ``None``.
        kl: per-image KL ``[B]`` at this stage or ``None``.
    """

    name: str
    means: Tensor
    masks: Tensor | None = None
    recon: Tensor | None = None
    attention: Tensor | None = None
    nll: Tensor | None = None
    kl: Tensor | None = None


@dataclass
class DecodedScene:
    """A decoded scene.

    Attributes:
        recon: ``[B, 3, H, W]`` = sum over K of ``masks * components``.
        masks: ``[B, K, 1, H, W]`` normalised over K.
        components: ``[B, K, 3, H, W]`` per-slot RGB in ``[0, 1]``.
        mask_logits: ``[B, K, 1, H, W]`` unnormalised mask logits (or log-masks).
    """

    recon: Tensor
    masks: Tensor
    components: Tensor
    mask_logits: Tensor


@dataclass
class ModelOutput:
    """Everything a forward pass returns.

    Attributes:
        loss: scalar training objective (what the optimiser minimises; includes GECO / step
            weighting where the model uses them).
        nll: ``[B]`` negative log-likelihood of the final stage, nats.
        kl: ``[B]`` KL divergence of the final stage, nats.
        recon: ``[B, 3, H, W]`` reconstruction in ``[0, 1]``.
        masks: ``[B, K, 1, H, W]`` normalised over K.
        components: ``[B, K, 3, H, W]``.
        latents: ``[B, K, D]`` the representation evaluated by DCI (EfficientMORL: means of the
            final posterior; Slot Attention: slots; GENESIS: concatenated component latents).
        stages: per-stage outputs in inference order, for figures.
        extras: scalar diagnostics for logging (e.g. ``geco_beta``, ``geco_C_ema``), detached.
    """

    loss: Tensor
    nll: Tensor
    kl: Tensor
    recon: Tensor
    masks: Tensor
    components: Tensor
    latents: Tensor
    stages: list[StageOutput] = field(default_factory=list)
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class EquivarianceProbe:
    """A sub-network exposed to the symmetry checks.

    ``fn(inputs)`` must be a pure, deterministic function of its inputs: every bit of noise it
    needs (e.g. the reparameterisation noise of each slot) is an explicit input tensor, so the
    checker can permute the noise together with the slots. ``make_inputs(batch_size, generator)``
    draws valid inputs. Inputs whose names are in ``fixed_keys`` (e.g. the image) carry no slot
    axis and are not permuted; every other input has the slot axis at dim 1 (``[B, K, ...]``).
    Outputs named in ``invariant_keys`` must be unchanged by a slot permutation (e.g. the decoded
    image, the loss); every other output has its slot axis at dim 1 and must be permuted alike.

    Attributes:
        name: component name, e.g. ``"posterior_layer"``, ``"prior"``, ``"refinement"``,
            ``"inference"``, ``"decoder"``.
        fn: the function under test, ``dict[str, Tensor] -> dict[str, Tensor]``.
        make_inputs: ``(batch_size, generator) -> dict[str, Tensor]``.
        fixed_keys: inputs without a slot axis.
        invariant_keys: outputs that must be slot-permutation invariant.
        claimed: whether the model's design claims the property (ordered models such as GENESIS
            expose probes with ``claimed=False`` so the report shows the measured violation).
    """

    name: str
    fn: Callable[[dict[str, Tensor]], dict[str, Tensor]]
    make_inputs: Callable[[int, torch.Generator], dict[str, Tensor]]
    fixed_keys: tuple[str, ...] = ()
    invariant_keys: tuple[str, ...] = ()
    claimed: bool = True


class ObjectCentricModel(nn.Module, abc.ABC):
    """Base class of every model (EfficientMORL, GENESIS, GENESIS-S, Slot Attention, IODINE).

    Subclasses set the class attributes and implement the abstract methods. ``config`` is the
    model's resolved config dataclass; it is stored in checkpoints so that a checkpoint never
    needs a preset to load.

    What a model, built-in or plug-in (``--model pkg.module:Class`` or an entry point of the group
    ``emorl_eval.models``; ``docs/contracts.md``, "Plug-in models"), must provide:

    * ``model_name`` (str) and ``config_class`` (a dataclass with JSON-like fields, among them
      ``num_slots``, ``image_size`` and ``latent_dim``, unless :attr:`latent_dim` is overridden);
    * ``__init__(config)`` calling ``super().__init__(config)``, with every piece of state that
      affects outputs in parameters or buffers (checkpoints hold only the state dict);
    * :meth:`forward`, :meth:`decode` and :meth:`sample_prior` with the shapes documented on them;
      all randomness from the ``generator`` argument.

    Optional: ``presets`` / ``training_presets`` / ``default_preset`` class attributes (dicts of
    config fields and training defaults per preset name; built-ins register theirs in
    ``models/presets.py``), :meth:`equivariance_probes` and :meth:`input_order_probe` (symmetry
    checks; none means "nothing to check"), ``supports_refinement``, ``slot_equivariant`` and the
    training hooks. Every call ``model(images)`` is checked against the output contract
    (``models/validation.py``); ``emorl-eval check-model`` runs the full conformance suite.
    """

    #: registry name, e.g. ``"emorl"``
    model_name: ClassVar[str]
    #: whether the number of test-time refinement steps can be chosen (EfficientMORL, IODINE)
    supports_refinement: ClassVar[bool] = False
    #: whether the design claims K-slot permutation equivariance (False for ordered models)
    slot_equivariant: ClassVar[bool] = True
    #: check every forward's output against the contract (``emorl_eval.models.validation``)
    validate_outputs: ClassVar[bool] = True
    #: False for a model without a KL term (a deterministic autoencoder such as Slot Attention):
    #: its ``kl`` is zeros, which evaluations report as n/a (empty in CSV files), not as a KL of 0
    has_kl: ClassVar[bool] = True

    @property
    def kl_monte_carlo(self) -> bool:
        """Whether ``kl`` is a Monte-Carlo estimate (log q(z|x) - log p(z) at the sampled z), which
        is unbiased but can be negative for one image; analytic KLs (the default) are >= 0, and
        evaluations reject a negative one as a sign error."""
        return False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def likelihood_info(self) -> dict[str, Any]:
        """What ``nll`` measures: ``{"likelihood": name or None, "sigma": pixel std or None}``
        (shown beside the NLL in evaluations, since NLLs of different likelihoods differ in
        scale). Default: the config's ``likelihood`` and ``sigma`` fields, where it has them."""
        sigma = getattr(self.config, "sigma", None)
        return {"likelihood": getattr(self.config, "likelihood", None),
                "sigma": float(sigma) if isinstance(sigma, (int, float)) else None}

    # --- sizes ----------------------------------------------------------------------------
    @property
    def num_slots(self) -> int:
        """K, the number of slots."""
        return int(self.config.num_slots)

    @property
    def latent_dim(self) -> int:
        """D, the size of each slot's ``latents`` vector."""
        return int(self.config.latent_dim)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the model was built for."""
        return tuple(self.config.image_size)  # type: ignore[return-value]

    def config_dict(self) -> dict[str, Any]:
        """The resolved config as a JSON-serialisable dict."""
        return dataclasses.asdict(self.config)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module.__call__`` (hooks, DDP), then the contract check of the output: a model that
        returns wrong shapes, masks not summing to 1 or (in eval mode) NaNs raises
        :class:`emorl_eval.errors.ModelError`."""
        output = super().__call__(*args, **kwargs)
        if self.validate_outputs:
            from emorl_eval.models.validation import check_output

            check_output(self, args[0] if args else kwargs.get("images"), output)
        return output

    # --- the interface ----------------------------------------------------------------------
    @abc.abstractmethod
    def forward(
        self,
        images: Tensor,
        refinement_steps: int | None = None,
        generator: torch.Generator | None = None,
        decode_stages: bool = False,
    ) -> ModelOutput:
        """Infer, decode and score a batch.

        Args:
            images: ``[B, 3, H, W]`` in ``[0, 1]``.
            refinement_steps: test-time refinement steps I (None = the config's current value;
                ignored by models without refinement).
            generator: source of all sampling noise (None = the global RNG).
            decode_stages: also decode intermediate stages into ``StageOutput.masks/recon``.
        """

    @abc.abstractmethod
    def decode(self, z: Tensor) -> DecodedScene:
        """Decode slot latents ``z [B, K, D]`` (in the model's decoder space) to a scene."""

    @abc.abstractmethod
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` scenes' latents from the prior, ``[n, K, D]``, decodable with ``decode``."""

    def equivariance_probes(self) -> list[EquivarianceProbe]:
        """The sub-networks whose slot (in)variance the symmetry checks measure."""
        return []

    def input_order_probe(self) -> EquivarianceProbe | None:
        """For set-attention models (appendix A.2): a probe whose ``fn`` takes the flattened,
        positionally-encoded input features ``"features" [B, N, C]`` (N = H*W, the axis the checker
        permutes, at dim 1) plus fixed noise, and returns the posterior/slots, which must be
        invariant to the order of the N features. ``None`` when the model makes no such claim."""
        return None

    # --- training hooks (the trainer calls these; defaults do nothing) ----------------------
    def on_train_step(self, step: int) -> None:
        """Called by the trainer before each training forward with the global step (GECO warm
        start, refinement curriculum, schedules)."""

    def after_backward(self, output: ModelOutput) -> None:
        """Called by the trainer after ``loss.backward()`` (e.g. GECO Lagrange update)."""

    def training_schedule(self) -> dict[str, Any]:
        """Training hyper-parameters this model's preset asks for (lr, warm-up, clip, ...)."""
        return {}

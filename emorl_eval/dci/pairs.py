"""The DCI data set: matched (ground-truth factors, slot code) pairs over the test images.

For each of the first ``num`` images of the split (file order, as ``evaluate``): one forward
pass gives the K slot codes (``ModelOutput.latents``: EfficientMORL's final posterior means
after refinement, Slot Attention's slots, ...) and the K decoded masks of the final stage; the
visible objects are matched to slots (:mod:`emorl_eval.dci.matching`); the pairs of all images
are concatenated. The seeded 50/50 train/test split is done by
:func:`emorl_eval.dci.scores.dci_scores`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from emorl_eval.data.schema import FactorSpec
from emorl_eval.dci.matching import match_pairs
from emorl_eval.errors import ConfigError, DataError


@dataclass
class MatchedPairs:
    """All matched pairs (``P`` of them) of a model on a dataset split.

    Attributes:
        codes: ``[P, D]`` float64 slot codes.
        factors: ``[P, F]`` float64 ground-truth factors.
        ious: ``[P]`` IoU of each matched pair.
        image_index: ``[P]`` dataset index of the pair's image.
        object_index: ``[P]`` object ``j`` (label ``j + 1``) within the image.
        slot_index: ``[P]`` slot ``k``.
        factor_specs: the ``F`` factor specs (names, kinds).
        num_images: images processed.
        num_visible: visible objects seen, matched or not (``>= P``; more when K < objects).
        refinement_steps: test-time refinement steps used (0 for models without).
    """

    codes: np.ndarray
    factors: np.ndarray
    ious: np.ndarray
    image_index: np.ndarray
    object_index: np.ndarray
    slot_index: np.ndarray
    factor_specs: list[FactorSpec]
    num_images: int
    num_visible: int
    refinement_steps: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def mean_iou(self) -> float:
        """Mean IoU of the matched pairs (NaN without pairs)."""
        return float(self.ious.mean()) if len(self) else float("nan")


def extract_matched_pairs(
    model: Any,
    dataset: Any,
    num: int | None = 320,
    seed: int = 0,
    batch_size: int = 32,
    refinement_steps: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    masks_from: str = "output",
) -> MatchedPairs:
    """Run ``model`` on the first ``num`` images of ``dataset`` and collect matched pairs.

    Args:
        model: an :class:`models.interface.ObjectCentricModel`.
        dataset: an :class:`emorl_eval.data.ObjectsDataset` with ground-truth factors.
        num: images (the first ones of the split; None = all).
        seed: seed of the forward pass's sampling noise (per batch, as ``evaluate``).
        batch_size: images per forward pass.
        refinement_steps: test-time refinement steps I (None = the model's configured value).
        device: where the model runs.
        progress: tqdm bar on stderr.
        masks_from: ``"output"`` matches with ``ModelOutput.masks`` (the final stage's decoded
            masks; EfficientMORL decodes them from a posterior sample); ``"latents"`` decodes the
            codes themselves with ``model.decode(latents)`` first, as the reference ``eval.py``
            did (masks of the posterior means); only for models whose latents are in decoder space.

    Returns:
        :class:`MatchedPairs`.

    Raises:
        DataError: the dataset has no factors or images, or image sizes differ from the model's.
    """
    from torch.utils.data import DataLoader, Subset
    from tqdm.auto import tqdm

    from emorl_eval.evaluate import _check_compatible, batch_generator, effective_refinement_steps

    name = getattr(dataset, "path", dataset)
    specs = list(getattr(dataset, "factor_specs", []) or [])
    if not specs:
        raise DataError(f"dataset {name} has no ground-truth object factors: DCI needs them")
    if len(dataset) == 0:
        raise DataError(f"dataset {name} has no images")
    if masks_from not in ("output", "latents"):
        raise ConfigError(f"masks_from: {masks_from!r} is not 'output' or 'latents'")
    if batch_size < 1 or (num is not None and num < 1):
        raise ConfigError(f"batch size and number of images must be >= 1, got {batch_size} and {num}")
    _check_compatible(model, dataset)
    steps = effective_refinement_steps(model, refinement_steps)
    n = len(dataset) if num is None else min(int(num), len(dataset))
    device = torch.device(device)
    model = model.to(device).eval()
    loader = DataLoader(Subset(dataset, range(n)), batch_size=batch_size, shuffle=False, num_workers=0)

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("codes", "factors", "ious", "image", "obj", "slot")}
    num_visible = 0
    start = 0
    with tqdm(total=n, desc="DCI latents", unit="img", disable=not progress, leave=False) as bar:
        for batch in loader:
            images = batch["image"].to(device)
            with torch.no_grad():
                out = model(images, refinement_steps=steps if model.supports_refinement else None,
                            generator=batch_generator(seed, start, device))
            if batch["factors"].shape[-1] != len(specs):
                raise DataError(f"dataset {name}: factors have {batch['factors'].shape[-1]} columns but "
                                f"{len(specs)} factor specs")
            masks = out.masks
            if masks_from == "latents":
                try:
                    with torch.no_grad():
                        masks = model.decode(out.latents).masks
                except (NotImplementedError, RuntimeError) as err:
                    raise ConfigError(f"model {getattr(model, 'model_name', type(model).__name__)} cannot decode "
                                      f"its latents ({type(err).__name__}): use masks_from='output'") from None
            got = match_pairs(out.latents, masks, batch["masks"], batch["visibility"], batch["factors"])
            parts["codes"].append(got.codes)
            parts["factors"].append(got.factors)
            parts["ious"].append(got.ious)
            parts["image"].append(batch["index"].numpy()[got.image].astype(np.int64))
            parts["obj"].append(got.obj)
            parts["slot"].append(got.slot)
            num_visible += got.num_visible
            start += images.shape[0]
            bar.update(images.shape[0])

    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return MatchedPairs(
        codes=cat["codes"],
        factors=cat["factors"],
        ious=cat["ious"],
        image_index=cat["image"],
        object_index=cat["obj"],
        slot_index=cat["slot"],
        factor_specs=specs,
        num_images=n,
        num_visible=num_visible,
        refinement_steps=steps,
    )

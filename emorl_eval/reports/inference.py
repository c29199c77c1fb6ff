"""Shared plumbing of the figure and leakage commands: load a checkpoint and images, run the
model in batches, and the per-dimension latent range of appendix E.2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from emorl_eval.errors import ConfigError, DataError


@dataclass
class Inferred:
    """Model outputs for N images (detached, on CPU).

    Attributes:
        latents: ``[N, K, D]``; recon: ``[N, 3, H, W]``; masks: ``[N, K, 1, H, W]``;
        components: ``[N, K, 3, H, W]``.
    """

    latents: Tensor
    recon: Tensor
    masks: Tensor
    components: Tensor


def load_images(data: str | Path, num: int, start: int = 0, split: str = "test") -> Tensor:
    """Images ``start .. start+num-1`` of ``split`` as ``[N, 3, H, W]`` float in [0, 1] (fewer
    when the split is shorter). Raises DataError for a missing file or an empty selection."""
    from emorl_eval.data import ObjectsDataset

    dataset = ObjectsDataset(data, split=split)
    stop = min(len(dataset), start + num)
    if stop <= start:
        raise DataError(f"{data}: split {split!r} has {len(dataset)} images, none from index {start}")
    return torch.stack([torch.as_tensor(dataset[i]["image"]) for i in range(start, stop)])


def load_checkpoint(ckpt: str | Path, preset: str | None = None, device: str = "cpu"):
    """The model of a checkpoint (ours or official with ``preset``) in eval mode on ``device``."""
    from emorl_eval import models

    model = models.load(ckpt, preset=preset)
    return model.to(device).eval()


def check_size(model, images: Tensor, source: str | Path | None = None) -> None:
    """Raise DataError (naming ``source``, the data file) when the images do not have the size
    the model was built for."""
    size = tuple(images.shape[-2:])
    if tuple(model.image_size) != size:
        where = f"{source}: " if source else ""
        raise DataError(f"{where}images are {size[0]}x{size[1]} but the model expects "
                        f"{model.image_size[0]}x{model.image_size[1]}")


@torch.no_grad()
def infer(model, images: Tensor, batch_size: int = 16, refinement_steps: int | None = None,
          seed: int = 0, device: str = "cpu") -> Inferred:
    """Forward ``images [N, 3, H, W]`` in batches with a seeded generator; outputs on CPU.

    Runs under ``torch.no_grad()`` (docs/contracts.md: models that refine with gradients enable
    them internally).
    """
    check_size(model, images)
    generator = torch.Generator(device=device).manual_seed(seed)
    parts: list[tuple[Tensor, ...]] = []
    for i in range(0, len(images), batch_size):
        out = model(images[i:i + batch_size].to(device), refinement_steps=refinement_steps, generator=generator)
        parts.append(tuple(t.detach().cpu() for t in (out.latents, out.recon, out.masks, out.components)))
    latents, recon, masks, components = (torch.cat(ts) for ts in zip(*parts))
    return Inferred(latents=latents, recon=recon, masks=masks, components=components)


def latent_range(latents: Tensor) -> tuple[Tensor, Tensor]:
    """Per-dimension (min, max) over images and slots of ``latents [N, K, D]`` -> two ``[D]``
    (appendix E.2: "the maximum and minimum values per latent dimension across 100 images")."""
    flat = latents.reshape(-1, latents.shape[-1])
    return flat.min(0).values, flat.max(0).values


@torch.no_grad()
def decode(model, z: Tensor, batch_size: int = 128, device: str = "cpu"):
    """``model.decode`` of ``z [M, K, D]`` in batches; returns (recon ``[M,3,H,W]``, masks
    ``[M,K,1,H,W]``, components ``[M,K,3,H,W]``) on CPU. Raises ConfigError when the model's
    ``latents`` cannot be decoded."""
    recons, masks, comps = [], [], []
    for i in range(0, len(z), batch_size):
        try:
            scene = model.decode(z[i:i + batch_size].to(device))
        except (RuntimeError, ValueError) as err:
            raise ConfigError(f"{type(model).__name__}: its latents cannot be decoded for traversals ({err})") from err
        recons.append(scene.recon.cpu())
        masks.append(scene.masks.cpu())
        comps.append(scene.components.cpu())
    return torch.cat(recons), torch.cat(masks), torch.cat(comps)


def pick_slot(masks: Tensor) -> int:
    """Default slot to traverse for one image's ``masks [K, 1, H, W]``: the slot with the largest
    mask area other than the largest one (which usually holds the background)."""
    area = masks.flatten(1).sum(1)
    if len(area) == 1:
        return 0
    order = torch.argsort(area, descending=True)
    return int(order[1])


def pick_dims(lo: Tensor, hi: Tensor, num: int) -> list[int]:
    """The ``num`` dimensions with the widest range (``hi - lo``), widest first: collapsed
    dimensions barely vary across images, so this shows the active ones."""
    return [int(d) for d in torch.argsort(hi - lo, descending=True)[:num]]

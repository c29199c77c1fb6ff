"""An oracle model and an in-memory dataset with known matches, for the DCI pipeline tests.

Images encode the scene: channel 0 = label / 8 (the label map), channel 1 = the object's factor
0 on its pixels. The oracle segments perfectly, puts label ``l``'s pixels in slot
``(l + SHIFT) % K`` and writes the object's factor 0 into dim 0 of that slot's code (dim 1 is
always 0, an inactive dim)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from emorl_eval.data.schema import FactorSpec
from emorl_eval.models.interface import DecodedScene, ModelOutput, ObjectCentricModel

SHIFT = 2


@dataclass
class OracleConfig:
    num_slots: int = 4
    latent_dim: int = 2
    image_size: tuple[int, int] = (8, 8)


class OracleModel(ObjectCentricModel):
    model_name = "oracle"

    def __init__(self, config: OracleConfig | None = None) -> None:
        super().__init__(config or OracleConfig())
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images: Tensor, refinement_steps: int | None = None,
                generator: torch.Generator | None = None, decode_stages: bool = False) -> ModelOutput:
        b, _, h, w = images.shape
        k = self.num_slots
        labels = (images[:, 0] * 8).round().long()
        slot = (labels + SHIFT) % k
        masks = torch.nn.functional.one_hot(slot, k).permute(0, 3, 1, 2).unsqueeze(2).float()
        latents = torch.zeros(b, k, self.latent_dim)
        for i in range(b):
            for label in labels[i].unique().tolist():
                if label > 0:
                    latents[i, (label + SHIFT) % k, 0] = images[i, 1][labels[i] == label].mean()
        zero = torch.zeros(b)
        return ModelOutput(loss=zero.sum(), nll=zero, kl=zero, recon=images, masks=masks,
                           components=images.unsqueeze(1).expand(b, k, 3, h, w), latents=latents)

    def decode(self, z: Tensor) -> DecodedScene:  # pragma: no cover - not used
        raise NotImplementedError

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class OracleDataset:
    """``n`` 8x8 scenes with up to 3 objects in fixed places; image 0 has none, and object 3 of
    image 1 is flagged invisible. Factor 0 (continuous) in (0, 1); factor 1 (discrete) = label."""

    factor_specs = [FactorSpec("size", "continuous"), FactorSpec("kind", "discrete", 4)]
    image_size = (8, 8)
    dataset_name = "oracle"
    max_objects = 3

    def __init__(self, n: int = 24, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            labels = torch.zeros(8, 8, dtype=torch.long)
            if i > 0:
                labels[:3, :3] = 1
                labels[5:, :4] = 2
                labels[:4, 5:] = 3
            size = torch.rand(3, generator=g) * 0.8 + 0.1
            factors = torch.stack([size, torch.arange(1, 4, dtype=torch.float32)], 1)
            image = torch.zeros(3, 8, 8)
            image[0] = labels / 8
            for j in range(3):
                image[1][labels == j + 1] = size[j]
            visibility = torch.tensor([i > 0, i > 0, i > 1])
            self.items.append({"image": image, "masks": labels, "visibility": visibility, "factors": factors,
                               "index": i})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]

"""Degenerate-model warnings on hand-made cases: a perfect model built from the ground-truth
masks raises none; a collapsed one, an all-inactive code and memorising trees each raise theirs."""

from __future__ import annotations

import pandas as pd
import torch

from emorl_eval import diagnostics as dg
from emorl_eval.evaluate import evaluate_model, slots_used
from emorl_eval.models.interface import ModelOutput, ObjectCentricModel


class MaskOracle(ObjectCentricModel):
    """Outputs the dataset's own masks (``perfect``) or one slot everywhere (``collapsed``)."""

    model_name = "oracle"
    supports_refinement = False

    def __init__(self, dataset, collapsed: bool = False) -> None:
        from dataclasses import dataclass

        @dataclass
        class Cfg:
            num_slots: int = 4
            latent_dim: int = 2
            image_size: tuple[int, int] = (35, 35)

        super().__init__(Cfg())
        self.dataset, self.collapsed, self.calls = dataset, collapsed, 0

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False) -> ModelOutput:
        b, _, h, w = images.shape
        start = self.calls
        self.calls += b
        labels = torch.stack([self.dataset[start + i]["masks"] for i in range(b)]).long()  # [B, H, W]
        if self.collapsed:
            labels = torch.zeros_like(labels)
        masks = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).unsqueeze(2).float()
        recon = images.clone()
        zeros = torch.zeros(b)
        return ModelOutput(loss=zeros.mean(), nll=zeros, kl=zeros, recon=recon, masks=masks,
                           components=images.unsqueeze(1).expand(b, 4, 3, h, w), latents=torch.zeros(b, 4, 2))

    def decode(self, z):  # pragma: no cover - not used
        raise NotImplementedError

    def sample_prior(self, n, generator=None):  # pragma: no cover - not used
        raise NotImplementedError


def _evaluate(tiny_h5, collapsed: bool) -> pd.DataFrame:
    from emorl_eval.data import ObjectsDataset

    dataset = ObjectsDataset(tiny_h5, split="test")
    return evaluate_model(MaskOracle(dataset, collapsed), dataset, num=8, batch_size=4, progress=False)


def test_perfect_model_from_ground_truth_masks_raises_no_warning(tiny_h5) -> None:
    df = _evaluate(tiny_h5, collapsed=False)
    assert df["ari_fg"].min() == 1.0 and df["slots_used"].min() == 4  # 3 objects + background
    assert dg.evaluation_warnings(df) == []


def test_collapsed_model_is_flagged(tiny_h5) -> None:
    df = _evaluate(tiny_h5, collapsed=True)
    assert (df["slots_used"] == 1).all()
    found = dg.evaluation_warnings(df)
    assert len(found) == 2 and found[0].startswith("collapsed model") and "matched coverage" in found[1]


def test_slots_used_counts_argmax_winners_above_the_area_floor() -> None:
    masks = torch.zeros(1, 3, 1, 10, 10)
    masks[0, 0] = 1.0
    masks[0, 1, 0, 0, 0] = 2.0  # wins 1 pixel of 100 = the 1% floor: counts
    masks[0, 2, 0, 5, 5] = 0.5  # never wins
    assert slots_used(masks).tolist() == [2.0]


def test_dci_warnings_each_fire_on_their_own_case() -> None:
    healthy = {"num_active_dims": 12, "mean_matched_iou": 0.9, "informativeness_train": 0.9,
               "informativeness_test": 0.8}
    assert dg.dci_warnings(healthy) == []
    assert "no active latent dims" in dg.dci_warnings({**healthy, "num_active_dims": 0})[0]
    assert "matched IoU 0.027" in dg.dci_warnings({**healthy, "mean_matched_iou": 0.027})[0]
    # the collapsed model: train 1.000 vs test 0.120
    assert "memorise" in dg.dci_warnings({**healthy, "informativeness_train": 1.0, "informativeness_test": 0.12})[0]


def test_symmetry_warning_counts_uninformative_rows() -> None:
    table = pd.DataFrame({"informative": [True, None, False, False]})
    assert dg.symmetry_warnings(table)[0].startswith("2 equivariant output(s) uninformative")
    assert dg.symmetry_warnings(pd.DataFrame({"informative": [True, None]})) == []

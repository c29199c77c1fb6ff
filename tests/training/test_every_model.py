"""The trainer serves every registered model: two steps of each ``tiny`` preset through ``train``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval import models
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from emorl_eval.models import presets

TINY_EMORL = ["image_size=[16,16]", "num_slots=2", "latent_dim=8", "num_layers=2", "refinement_steps=1"]


@pytest.mark.parametrize("name", models.available())
def test_two_steps_of_every_model(name: str, dsprites16_h5: Path, dsprites32_h5: Path, tmp_path: Path) -> None:
    # every registered model must offer a tiny preset (docs/contracts.md) except emorl, which is
    # shrunk with --set overrides; the data matches the preset's image size (16, or 32 for a model
    # that needs at least 32 px)
    preset, sets = ("tiny", []) if name != "emorl" else (None, TINY_EMORL)
    size = tuple(presets.resolve_config(name, preset).image_size) if preset else (16, 16)
    data = dsprites32_h5 if size == (32, 32) else dsprites16_h5
    cfg = resolve_train_config(name, str(data), str(tmp_path / name), preset, sets=sets, steps=2,
                               batch_size=2, log_every=1, ckpt_every=1, device="cpu", progress=False)
    train(cfg)
    metrics = pd.read_csv(tmp_path / name / "metrics.csv")
    assert metrics["step"].tolist() == [1, 2]
    model = models.load(tmp_path / name / LAST)
    assert metrics[["loss", "nll", "grad_norm"]].notna().all().all()
    # a model without a KL term (Slot Attention) leaves the kl cells empty instead of logging 0
    assert metrics["kl"].notna().all() if model.has_kl else metrics["kl"].isna().all()
    assert metrics["loss"].map(float).abs().lt(float("inf")).all()
    assert type(model).model_name == name
    first = torch.load(tmp_path / name / "checkpoint_0000001.pt", weights_only=True)["state_dict"]
    params = [k for k, p in model.named_parameters() if p.requires_grad]
    moved = [k for k in params if not torch.equal(first[k], model.state_dict()[k])]
    assert len(moved) > len(params) // 2, f"only {len(moved)} of {len(params)} parameters moved in step 2"

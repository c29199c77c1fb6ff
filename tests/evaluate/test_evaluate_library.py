"""evaluate_model / summarize / refinement_sweep on a stand-in model and a tiny generated file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from emorl_eval.data import ObjectsDataset, generate_h5
from emorl_eval.errors import ConfigError, DataError
from emorl_eval.evaluate import (
    ID_COLUMNS,
    METRIC_COLUMNS,
    evaluate_model,
    refinement_sweep,
    summarize,
    sweep_summary,
)
from emorl_eval.metrics import adjusted_rand_index, mse
from tests.evaluate.fakes import FakeConfig, FakeModel, FakeNoRefinement


@pytest.fixture(scope="module")
def tiny_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tetro.h5"
    return generate_h5(path, "tetrominoes", num=24, seed=0, test_fraction=0.5)


@pytest.fixture()
def dataset(tiny_h5):
    return ObjectsDataset(tiny_h5, split="test")


def test_columns_and_values_match_direct_metrics(dataset) -> None:
    model = FakeModel()
    df = evaluate_model(model, dataset, num=10, batch_size=4, refinement_steps=1, seed=3, progress=False,
                        metadata={"checkpoint": "x.pt", "checkpoint_step": 7})
    assert list(df.columns) == list(ID_COLUMNS) + list(METRIC_COLUMNS)
    assert len(df) == 10 and df["image_index"].tolist() == list(range(10))
    assert (df["model"] == "fake").all() and (df["dataset"] == "tetrominoes").all()
    assert (df["refinement_steps"] == 1).all() and (df["checkpoint_step"] == 7).all()
    assert not df[list(METRIC_COLUMNS)].isna().any().any()
    # recompute image 5 (second batch, position 1) by hand with the same generator
    from emorl_eval.evaluate import batch_generator

    batch = [dataset[i] for i in range(4, 8)]
    images = torch.stack([b["image"] for b in batch])
    with torch.no_grad():
        out = model(images, refinement_steps=1, generator=batch_generator(3, 4))
    true = torch.stack([b["masks"] for b in batch])
    assert df.loc[5, "ari_fg"] == pytest.approx(adjusted_rand_index(true, out.masks)[1].item(), abs=1e-12)
    assert df.loc[5, "mse"] == pytest.approx(mse(images, out.recon)[1].item(), rel=1e-9)
    assert df.loc[5, "kl"] == pytest.approx(out.kl[1].item(), rel=1e-6)


class FakeMonteCarloKL(FakeModel):
    """Reports a single-sample KL estimate, negative for some images (as official GENESIS can)."""

    model_name = "fake_mc_kl"
    monte_carlo = True

    @property
    def kl_monte_carlo(self) -> bool:
        return self.monte_carlo

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        out = super().forward(images, refinement_steps, generator, decode_stages)
        out.kl = out.kl - 10.5  # 10 + steps + U(0, 1) - 10.5: negative for about half the images at I = 0
        return out


class FakeNegativeAnalyticKL(FakeMonteCarloKL):
    monte_carlo = False


def test_a_monte_carlo_kl_may_be_negative_per_image(dataset) -> None:
    df = evaluate_model(FakeMonteCarloKL(), dataset, num=12, batch_size=4, refinement_steps=0, seed=0,
                        progress=False)
    assert (df["kl"] < 0).any() and (df["kl"] > 0).any()
    plain = evaluate_model(FakeModel(), dataset, num=12, batch_size=4, refinement_steps=0, seed=0, progress=False)
    assert np.allclose(df["kl"], plain["kl"] - 10.5)
    with pytest.raises(DataError, match="negative"):  # the same numbers as an analytic KL: a sign error
        evaluate_model(FakeNegativeAnalyticKL(), dataset, num=12, batch_size=4, refinement_steps=0, seed=0,
                       progress=False)


def test_official_genesis_reports_a_monte_carlo_kl() -> None:
    from emorl_eval import models

    assert models.build("genesis", preset="tiny", montecarlo_kl=True).kl_monte_carlo
    assert not models.build("genesis", preset="tiny").kl_monte_carlo
    assert models.build("genesis_v2", preset="tiny", montecarlo_kl=True).kl_monte_carlo
    assert not FakeModel().kl_monte_carlo


def test_deterministic_and_num_clipped(dataset) -> None:
    a = evaluate_model(FakeModel(), dataset, num=1000, batch_size=5, seed=0, progress=False)
    b = evaluate_model(FakeModel(), dataset, num=1000, batch_size=5, seed=0, progress=False)
    assert len(a) == len(dataset) == 12
    pd.testing.assert_frame_equal(a, b)
    c = evaluate_model(FakeModel(), dataset, num=1000, batch_size=5, seed=1, progress=False)
    assert not np.allclose(a["ari_fg"], c["ari_fg"])


def test_summarize_mean_std() -> None:
    df = pd.DataFrame({"ari_fg": [0.5, 1.0, 0.0], "mse": [1.0, 1.0, 1.0], "nll": [np.nan] * 3})
    s = summarize(df).set_index("metric")
    assert s.loc["ari_fg", "mean"] == 0.5 and s.loc["ari_fg", "std"] == pytest.approx(0.5)
    assert s.loc["mse", "std"] == 0.0 and s.loc["ari_fg", "n"] == 3
    assert s.loc["nll", "n"] == 0 and np.isnan(s.loc["nll", "mean"])  # no values at all: shown as n/a


def test_equal_values_have_a_zero_std_not_rounding_noise() -> None:
    values = [0.1] * 320  # pandas' std of these is ~1.4e-17, which tables printed as 1.395e-17
    s = summarize(pd.DataFrame({"ari_fg": values})).set_index("metric")
    assert s.loc["ari_fg", "std"] == 0.0


def test_refinement_sweep_long_format_and_no_refinement(dataset) -> None:
    long = refinement_sweep(FakeModel(), dataset, [0, 2], num=6, batch_size=3, progress=False)
    assert set(long["metric"]) == set(METRIC_COLUMNS)
    assert len(long) == 2 * 6 * len(METRIC_COLUMNS)
    table = sweep_summary(long).set_index("refinement_steps")
    assert table.loc[2, "kl"] > table.loc[0, "kl"]  # the fake's KL grows by 1 per step
    with pytest.raises(ConfigError, match="no test-time refinement"):
        refinement_sweep(FakeNoRefinement(), dataset, [0, 1], num=2, progress=False)


def test_no_refinement_model_records_zero_steps(dataset) -> None:
    df = evaluate_model(FakeNoRefinement(), dataset, num=3, refinement_steps=5, progress=False)
    assert (df["refinement_steps"] == 0).all()


def test_incompatible_image_size(dataset) -> None:
    with pytest.raises(DataError, match="35x35 images but the model expects 64x64"):
        evaluate_model(FakeModel(FakeConfig(image_size=(64, 64))), dataset, num=2, progress=False)


class _DoubledMasks(torch.utils.data.Dataset):
    """The dataset with ground-truth label maps at twice the image resolution (like the 192x192
    masks of official raw CLEVR files)."""

    def __init__(self, base) -> None:
        self.base = base
        self.image_size, self.dataset_name, self.split = base.image_size, base.dataset_name, base.split

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        item = dict(self.base[i])
        item["masks"] = item["masks"].repeat_interleave(2, 0).repeat_interleave(2, 1)
        return item


def test_masks_at_another_resolution_are_resized_to_the_predictions(dataset) -> None:
    a = evaluate_model(FakeModel(), dataset, num=4, progress=False)
    b = evaluate_model(FakeModel(), _DoubledMasks(dataset), num=4, progress=False)
    pd.testing.assert_frame_equal(a, b)


def test_model_mode_is_restored(dataset) -> None:
    model = FakeModel().train()
    evaluate_model(model, dataset, num=2, progress=False)
    assert model.training
    model.eval()
    evaluate_model(model, dataset, num=2, progress=False)
    assert not model.training

"""ObjectsDataset: item format, attributes, laziness across DataLoader workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from emorl_eval.data import ObjectsDataset, generate, generate_h5
from emorl_eval.errors import DataError


@pytest.fixture(scope="module")
def tetro_file(tmp_path_factory):
    return generate_h5(tmp_path_factory.mktemp("d") / "t.h5", "tetrominoes", 24, seed=5, test_fraction=0.5)


def test_item_format(tetro_file):
    ds = ObjectsDataset(tetro_file, split="test")
    assert len(ds) == 12
    assert ds.image_size == (35, 35) and ds.max_objects == 3 and ds.dataset_name == "tetrominoes"
    assert [s.name for s in ds.factor_specs] == ["x", "y", "shape", "color"]
    item = ds[0]
    assert set(item) == {"image", "masks", "visibility", "factors", "index"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 35, 35)
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["masks"].dtype == torch.int64 and item["masks"].shape == (35, 35)
    assert item["visibility"].dtype == torch.bool and item["visibility"].shape == (3,)
    assert item["factors"].dtype == torch.float32 and item["factors"].shape == (3, 4)
    assert item["index"] == 0


def test_items_equal_generated_scenes(tetro_file):
    ref = generate("tetrominoes", 24, seed=5)
    ds = ObjectsDataset(tetro_file, split="test")
    for i in (0, 5, 11):
        item = ds[i]
        np.testing.assert_array_equal(item["masks"].numpy(), ref.masks[12 + i])
        np.testing.assert_allclose(item["image"].numpy(), ref.images[12 + i].transpose(2, 0, 1) / 255.0, atol=1e-7)
        np.testing.assert_array_equal(item["factors"].numpy(), ref.factors[12 + i])
    assert ds[-1]["index"] == 11
    with pytest.raises(IndexError):
        ds[12]


def test_dataloader_with_workers_and_pickling(tetro_file):
    ds = ObjectsDataset(tetro_file, split="train")
    ds[0]  # opens a handle in this process; pickling must drop it
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handle is None and clone[3]["index"] == 3
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(b["image"].shape[0] for b in batches) == 12
    assert batches[0]["masks"].shape == (4, 35, 35)
    assert torch.equal(torch.cat([b["index"] for b in batches]), torch.arange(12))


def test_errors(tmp_path, tetro_file):
    with pytest.raises(DataError, match="no such file"):
        ObjectsDataset(tmp_path / "missing.h5")
    with pytest.raises(DataError, match="no split 'val'"):
        ObjectsDataset(tetro_file, split="val")


def test_in_memory_items_equal_lazy_items(tetro_file):
    lazy, mem = ObjectsDataset(tetro_file, "train"), ObjectsDataset(tetro_file, "train", in_memory=True)
    for i in (0, 7):
        a, b = lazy[i], mem[i]
        for key in ("image", "masks", "visibility", "factors"):
            assert torch.equal(a[key], b[key])
    assert isinstance(mem._datasets[0], np.ndarray)

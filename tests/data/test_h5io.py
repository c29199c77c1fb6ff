"""HDF5 files: round trip, on-disk layout, atomic writes, bad-input errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from emorl_eval.data import generate, generate_h5, read_scenes
from emorl_eval.data.h5io import labels_to_onehot, onehot_to_labels, write_scenes_h5
from emorl_eval.data.layouts import resolve_layout
from emorl_eval.data.schema import specs_from_json
from emorl_eval.errors import ConfigError, DataError


def test_generate_h5_round_trip(tmp_path):
    path = generate_h5(tmp_path / "t.h5", "tetrominoes", 40, seed=3, test_fraction=0.25)
    ref = generate("tetrominoes", 40, seed=3)
    train, test = read_scenes(path, "train"), read_scenes(path, "test")
    assert train["num"] == 30 and test["num"] == 10
    for rows, sl in ((train, slice(0, 30)), (test, slice(30, 40))):
        np.testing.assert_array_equal(rows["image"], ref.images[sl].transpose(0, 3, 1, 2) / np.float32(255))
        np.testing.assert_array_equal(rows["masks"], ref.masks[sl])
        np.testing.assert_array_equal(rows["visibility"], ref.visibility[sl])
        np.testing.assert_array_equal(rows["factors"], ref.factors[sl])
    assert train["layout"].factor_specs == ref.factor_specs
    assert train["layout"].dataset_name == "tetrominoes"


def test_file_has_emorl_layout(tmp_path):
    path = generate_h5(tmp_path / "t.h5", "tetrominoes", 12, seed=0, test_fraction=0.5)
    with h5py.File(path, "r") as h:
        assert set(h.keys()) == {"train", "test"}
        g = h["test"]
        assert g["imgs"].shape == (6, 35, 35, 3) and g["imgs"].dtype == np.uint8
        assert g["masks"].shape == (6, 4, 35, 35, 1) and g["masks"].dtype == np.uint8
        assert set(np.unique(g["masks"][:])) == {0, 255}
        # entity masks partition the image
        assert (g["masks"][:].sum(axis=1, dtype=np.int64) == 255).all()
        assert g["factors"].shape == (6, 4, 5)
        assert (g["factors"][:, 0, -1] == 1).all() and (g["factors"][:, 1:, -1] == 1).all()
        specs = specs_from_json(h.attrs["factor_specs"])
        assert [s.name for s in specs] == ["x", "y", "shape", "color"]
        assert h.attrs["dataset_name"] == "tetrominoes" and h.attrs["seed"] == 0


def test_onehot_label_conversion_round_trip():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=(3, 7, 9)).astype(np.uint8)
    onehot = labels_to_onehot(labels, 5)
    assert onehot.shape == (3, 5, 7, 9, 1)
    np.testing.assert_array_equal(onehot_to_labels(onehot), labels)
    # float 0/1 masks (as EfficientMORL transposes them) decode the same way
    np.testing.assert_array_equal(onehot_to_labels(onehot[..., 0].astype(np.float32) / 255), labels)
    np.testing.assert_array_equal(onehot_to_labels(onehot // 255), labels)  # uint8 0/1 masks


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "t.h5"
    generate_h5(path, "tetrominoes", 8, seed=0)
    before = path.read_bytes()

    import emorl_eval.data.h5io as h5io

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5io, "scenes_to_file_arrays", boom)
    with pytest.raises(RuntimeError):
        generate_h5(path, "tetrominoes", 8, seed=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]  # no temp file left behind


def test_write_scenes_h5_with_explicit_splits(tmp_path):
    s = generate("tetrominoes", 10, seed=0)
    path = write_scenes_h5(tmp_path / "s.h5", {"train": s.subset(slice(0, 6)), "test": s.subset(slice(6, 10))})
    np.testing.assert_array_equal(read_scenes(path, "test")["masks"], s.masks[6:])


def test_unknown_dataset_and_option(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        generate("nope", 3, 0)
    with pytest.raises(ConfigError, match="no option"):
        generate("tetrominoes", 3, 0, colour="red")
    with pytest.raises(ConfigError, match="test_fraction"):
        generate_h5(tmp_path / "x.h5", "tetrominoes", 3, 0, test_fraction=2.0)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_scenes(tmp_path / "absent.h5")


def test_not_an_hdf5_file(tmp_path):
    p = tmp_path / "bad.h5"
    p.write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        read_scenes(p)


def test_missing_split_and_keys(tmp_path):
    p = tmp_path / "k.h5"
    with h5py.File(p, "w") as h:
        h.create_group("train").create_dataset("imgs", data=np.zeros((2, 35, 35, 3), np.uint8))
    with pytest.raises(DataError, match="no split 'test'"):
        read_scenes(p, "test")
    with pytest.raises(DataError, match="no 'masks' dataset"):
        read_scenes(p, "train")


def test_wrong_shapes(tmp_path):
    p = tmp_path / "s.h5"
    with h5py.File(p, "w") as h:
        g = h.create_group("test")
        g.create_dataset("imgs", data=np.zeros((2, 35, 35), np.uint8))
        g.create_dataset("masks", data=np.zeros((2, 4, 35, 35, 1), np.uint8))
    with pytest.raises(DataError, match=r"imgs must be \[N,H,W,3\]"):
        read_scenes(p)
    with h5py.File(p, "w") as h:
        g = h.create_group("test")
        g.create_dataset("imgs", data=np.zeros((2, 35, 35, 3), np.uint8))
        g.create_dataset("masks", data=np.zeros((2, 4, 30, 30, 1), np.uint8))
    with pytest.raises(DataError, match="masks are 30x30 but images are 35x35"):
        read_scenes(p)
    with h5py.File(p, "w") as h:
        g = h.create_group("test")
        g.create_dataset("imgs", data=np.zeros((2, 50, 50, 3), np.uint8))
        g.create_dataset("masks", data=np.zeros((2, 4, 50, 50, 1), np.uint8))
    with pytest.raises(DataError, match="match no known dataset"):
        read_scenes(p)


def test_official_file_without_attributes_uses_known_schema(tmp_path):
    # an official-style Tetrominoes file: no attributes, factors of unknown layout
    s = generate("tetrominoes", 5, seed=0)
    p = tmp_path / "tetrominoes.h5"
    with h5py.File(p, "w") as h:
        g = h.create_group("test")
        g.create_dataset("imgs", data=s.images)
        g.create_dataset("masks", data=labels_to_onehot(s.masks, 4))
        g.create_dataset("factors", data=np.zeros((5, 4, 7), np.float32))
    rows = read_scenes(p)
    assert rows["layout"].official and rows["layout"].dataset_name == "tetrominoes"
    np.testing.assert_array_equal(rows["masks"], s.masks)
    assert rows["visibility"].all()  # from the masks
    assert rows["factors"].shape == (5, 3, 7)
    assert all(spec.kind == "continuous" for spec in rows["layout"].factor_specs)


def test_official_clevr_schema():
    layout = resolve_layout(tmp := __import__("pathlib").Path("c.h5"), {}, (240, 320, 3), 9)
    assert layout.dataset_name == "clevr" and layout.clevr_crop
    assert [s.name for s in layout.factor_specs] == ["x", "y", "z", "rotation", "size", "material", "shape", "color"]
    assert layout.visibility_column == 8
    assert layout.image_size == (96, 96) and layout.mask_size == (192, 192)
    assert resolve_layout(tmp, {}, (240, 320, 3), 9, clevr_image_size=128).image_size == (128, 128)


def test_parallel_generation_writes_the_same_file_contents(tmp_path):
    a = generate_h5(tmp_path / "a.h5", "tetrominoes", 600, seed=2, test_fraction=0.5)
    b = generate_h5(tmp_path / "b.h5", "tetrominoes", 600, seed=2, test_fraction=0.5, workers=2)
    for split in ("train", "test"):
        ra, rb = read_scenes(a, split), read_scenes(b, split)
        for key in ("image", "masks", "visibility", "factors"):
            np.testing.assert_array_equal(ra[key], rb[key])

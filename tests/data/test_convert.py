"""DeepMind TFRecords -> our .h5: round trips through DeepMind-layout records made by our writer."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from emorl_eval.cli import cli
from emorl_eval.data import ObjectsDataset, generate, read_scenes
from emorl_eval.data.convert import convert_tfrecord
from emorl_eval.data.deepmind import SCHEMAS, row_to_example
from emorl_eval.data.tfrecord import write_tfrecord
from emorl_eval.errors import DataError


def deepmind_file(tmp_path, name, scenes):
    schema = SCHEMAS[name]
    m = scenes.max_objects
    examples = [row_to_example(schema, scenes.images[i], scenes.masks[i], scenes.factors[i],
                               scenes.visibility[i], m + 1) for i in range(len(scenes))]
    return write_tfrecord(tmp_path / f"{name}.tfrecords", examples)


@pytest.mark.parametrize("name", ["tetrominoes", "multi_dsprites"])
def test_convert_round_trip(tmp_path, name):
    scenes = generate(name, 7, seed=4)
    src = deepmind_file(tmp_path, name, scenes)
    res = convert_tfrecord(src, name, tmp_path / "out.h5", num_test=3)
    assert res.records_read == 7 and res.rows == {"test": 3, "train": 4}
    test, train = read_scenes(res.path, "test"), read_scenes(res.path, "train")
    np.testing.assert_array_equal(test["masks"], scenes.masks[:3])
    np.testing.assert_array_equal(train["masks"], scenes.masks[3:])
    np.testing.assert_allclose(train["image"], scenes.images[3:].transpose(0, 3, 1, 2) / 255.0, atol=1e-7)
    np.testing.assert_array_equal(train["visibility"], scenes.visibility[3:])
    vis = scenes.visibility[3:]
    np.testing.assert_allclose(train["factors"][vis], scenes.factors[3:][vis], atol=1e-6)
    assert [s.name for s in test["layout"].factor_specs] == [s.name for s in scenes.factor_specs]
    assert [s.kind for s in test["layout"].factor_specs] == [s.kind for s in scenes.factor_specs]


def test_convert_multi_dsprites_uses_hwk_mask_order(tmp_path):
    scenes = generate("multi_dsprites", 2, seed=0)
    ex = row_to_example(SCHEMAS["multi_dsprites"], scenes.images[0], scenes.masks[0], scenes.factors[0],
                        scenes.visibility[0], 6)
    assert ex["mask"].shape == (64, 64, 6, 1)


def test_convert_clevr_frame_and_filter(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.zeros((240, 320), np.uint8)
    labels[50:120, 100:180] = 1
    labels[150:200, 200:240] = 2
    labels[0:10, 0:10] = 3  # outside the EMORL crop window: visible in the frame, not in the crop
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    factors = np.zeros((10, 8), np.float32)
    factors[:3] = [[0.5, -1, 0.35, 30, 1, 0, 2, 3], [2, 1, 0.7, 100, 0, 1, 1, 7], [-2, 2, 0.7, 5, 0, 0, 0, 0]]
    visibility = np.arange(10) < 3
    ex = row_to_example(SCHEMAS["clevr"], image, labels, factors, visibility, 11)
    crowded = dict(ex, visibility=np.ones(11, np.float32))
    src = write_tfrecord(tmp_path / "clevr.tfrecords", [ex, crowded])
    res = convert_tfrecord(src, "clevr", tmp_path / "c.h5", num_test=5, max_objects=6)
    assert res.records_read == 2 and res.skipped == 1 and res.rows["test"] == 1
    ds = ObjectsDataset(res.path, "test")
    assert ds.image_size == (96, 96) and ds.mask_size == (192, 192) and ds.max_objects == 10
    item = ds[0]
    assert item["image"].shape == (3, 96, 96) and item["masks"].shape == (192, 192)
    np.testing.assert_array_equal(item["masks"].numpy(), labels[29:221, 64:256])
    np.testing.assert_allclose(item["factors"][:3].numpy(), factors[:3])
    assert item["visibility"].tolist() == visibility.tolist()
    assert [s.num_classes for s in ds.factor_specs if s.is_discrete] == [2, 2, 3, 8]
    assert ObjectsDataset(res.path, "test", clevr_image_size=128)[0]["image"].shape == (3, 128, 128)


def test_discrete_classes_grow_with_data(tmp_path):
    scenes = generate("tetrominoes", 3, seed=0)
    scenes.factors[0, 0, 2] = 20  # a shape code beyond our 19
    src = deepmind_file(tmp_path, "tetrominoes", scenes)
    res = convert_tfrecord(src, "tetrominoes", tmp_path / "o.h5")
    assert res.factor_specs[2].num_classes == 21


def test_convert_errors(tmp_path):
    scenes = generate("tetrominoes", 2, seed=0)
    src = deepmind_file(tmp_path, "tetrominoes", scenes)
    with pytest.raises(DataError, match="image has 3675 values, expected 64x64x3"):
        convert_tfrecord(src, "multi_dsprites", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()
    other = write_tfrecord(tmp_path / "o.tfrecords", [{"image": scenes.images[0]}])
    with pytest.raises(DataError, match="no feature 'mask'"):
        convert_tfrecord(other, "tetrominoes", tmp_path / "o.h5")


def test_convert_command(tmp_path):
    scenes = generate("tetrominoes", 5, seed=1)
    src = deepmind_file(tmp_path, "tetrominoes", scenes)
    out = tmp_path / "t.h5"
    r = CliRunner().invoke(cli, ["data", "convert", str(src), "--dataset", "tetrominoes", "--out", str(out),
                                 "--num-test", "2", "--limit", "4"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "4 records read" in r.output and "train 2" in r.output and "test 2" in r.output
    assert len(ObjectsDataset(out, "train")) == 2

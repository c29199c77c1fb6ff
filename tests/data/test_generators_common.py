"""Properties every built-in generator must have (format, declared factor types, masks agree
with visibility, determinism)."""

from __future__ import annotations

import numpy as np
import pytest

from emorl_eval.data import available_datasets, generate
from emorl_eval.data.schema import FactorSpec

# small options keep the slow renderers cheap here; their full-size runs are tested elsewhere
SMALL = {"clevr_like": {"size": 32}}


def test_registry_lists_the_contract_names():
    assert {"tetrominoes", "multi_dsprites", "textured_dsprites"} <= set(available_datasets())


@pytest.fixture(scope="module", params=available_datasets())
def scenes(request):
    name = request.param
    return generate(name, 12, seed=11, **SMALL.get(name, {}))


def test_format(scenes):
    n, h, w, c = scenes.images.shape
    assert n == 12 and c == 3 and scenes.images.dtype == np.uint8
    assert scenes.masks.shape == (n, h, w) and scenes.masks.dtype == np.uint8
    m = scenes.visibility.shape[1]
    assert scenes.visibility.dtype == bool and scenes.visibility.shape == (n, m)
    assert scenes.factors.dtype == np.float32 and scenes.factors.shape == (n, m, len(scenes.factor_specs))
    assert np.isfinite(scenes.factors).all()


def test_factor_types_declared(scenes):
    assert scenes.factor_specs and all(isinstance(s, FactorSpec) for s in scenes.factor_specs)
    assert len({s.name for s in scenes.factor_specs}) == len(scenes.factor_specs)
    for j, spec in enumerate(scenes.factor_specs):
        values = scenes.factors[..., j][scenes.visibility]
        if spec.is_discrete:
            assert (values == np.round(values)).all()
            assert values.min() >= 0 and values.max() < spec.num_classes


def test_visibility_equals_ids_present_in_masks(scenes):
    m = scenes.visibility.shape[1]
    for n in range(len(scenes)):
        present = set(np.unique(scenes.masks[n]).tolist()) - {0}
        assert present == {k + 1 for k in np.flatnonzero(scenes.visibility[n])}
        assert max(present, default=0) <= m
        assert (scenes.masks[n] == 0).any()  # some background is always visible


def test_deterministic_per_seed(scenes):
    again = generate(scenes.name, 12, seed=11, **SMALL.get(scenes.name, {}))
    for key in ("images", "masks", "visibility", "factors"):
        np.testing.assert_array_equal(getattr(again, key), getattr(scenes, key))
    other = generate(scenes.name, 12, seed=12, **SMALL.get(scenes.name, {}))
    assert not np.array_equal(other.images, scenes.images)

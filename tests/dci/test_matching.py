"""(object, slot) pairs by IoU-Hungarian matching: known permutations and edge cases."""

from __future__ import annotations

import numpy as np
import torch

from emorl_eval.dci.matching import match_pairs


def _scene(labels: torch.Tensor, slot_of_label: dict[int, int], k: int) -> torch.Tensor:
    """One-hot soft masks [1, K, 1, H, W]: label l's pixels go to slot slot_of_label[l]."""
    h, w = labels.shape
    seg = torch.zeros(h, w, dtype=torch.long)
    for label, slot in slot_of_label.items():
        seg[labels == label] = slot
    return torch.nn.functional.one_hot(seg, k).permute(2, 0, 1)[None, :, None].float()


def _labels() -> torch.Tensor:
    labels = torch.zeros(8, 8, dtype=torch.long)
    labels[:3, :3] = 1
    labels[5:, :4] = 2
    labels[:4, 5:] = 3
    return labels


def test_recovers_a_known_permutation_with_codes_and_factors() -> None:
    k, d = 5, 2
    perm = {0: 4, 1: 0, 2: 3, 3: 1}  # background -> slot 4, object label 1 -> slot 0, ...
    masks = _scene(_labels(), perm, k)
    latents = torch.arange(k * d, dtype=torch.float32).reshape(1, k, d)
    factors = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]])
    out = match_pairs(latents, masks, _labels()[None], torch.ones(1, 3, dtype=torch.bool), factors)
    np.testing.assert_array_equal(out.obj, [0, 1, 2])
    np.testing.assert_array_equal(out.slot, [perm[1], perm[2], perm[3]])
    np.testing.assert_array_equal(out.codes, latents[0, [0, 3, 1]].numpy())
    np.testing.assert_array_equal(out.factors, factors[0].numpy())
    np.testing.assert_allclose(out.ious, 1.0)
    assert out.num_visible == 3


def test_fewer_slots_than_objects_keeps_the_best_assignment() -> None:
    # two slots: slot 0 = object 1 exactly, slot 1 = background + objects 2 and 3
    labels = _labels()
    masks = _scene(labels, {0: 1, 1: 0, 2: 1, 3: 1}, 2)
    out = match_pairs(torch.randn(1, 2, 3), masks, labels[None], torch.ones(1, 3, dtype=torch.bool),
                      torch.zeros(1, 3, 1))
    assert len(out.slot) == 2 and out.num_visible == 3
    assert out.slot[list(out.obj).index(0)] == 0  # object 1 keeps its own slot
    assert sorted(out.slot.tolist()) == [0, 1]


def test_empty_images_invisible_objects_and_resized_labels() -> None:
    labels = torch.stack([_labels(), torch.zeros(8, 8, dtype=torch.long)])  # image 1 has no object
    masks = torch.cat([_scene(labels[0], {0: 0, 1: 1, 2: 2, 3: 3}, 4), _scene(labels[1], {0: 0}, 4)])
    visibility = torch.tensor([[True, False, True], [False, False, False]])  # object 2 flagged invisible
    big = labels.repeat_interleave(2, 1).repeat_interleave(2, 2)  # ground truth at twice the size
    factors = torch.arange(6, dtype=torch.float32).reshape(2, 3, 1)
    out = match_pairs(torch.randn(2, 4, 2), masks, big, visibility, factors)
    np.testing.assert_array_equal(out.image, [0, 0])
    np.testing.assert_array_equal(out.obj, [0, 2])
    np.testing.assert_array_equal(out.slot, [1, 3])
    np.testing.assert_array_equal(out.factors[:, 0], [0.0, 2.0])
    assert out.num_visible == 2
    none = match_pairs(torch.randn(1, 4, 2), masks[1:], labels[1:], visibility[1:], factors[1:])
    assert none.codes.shape == (0, 2) and none.factors.shape == (0, 1) and none.num_visible == 0

"""The sharded, resumable data order: same global batches for any number of ranks."""

from __future__ import annotations

import pytest

from emorl_eval.errors import ConfigError
from emorl_eval.training.data import ResumableShardedSampler, make_loader


def _global_batches(num_items: int, batch: int, world: int, seed: int, epoch: int) -> list[set[int]]:
    per_rank = batch // world
    shards = []
    for rank in range(world):
        sampler = ResumableShardedSampler(num_items, world, rank, seed, per_rank)
        sampler.set_position(epoch, 0)
        indices = list(sampler)
        shards.append([indices[i:i + per_rank] for i in range(0, len(indices), per_rank)])
    return [set().union(*(shard[b] for shard in shards)) for b in range(len(shards[0]))]


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_together_read_the_single_process_batches(world: int) -> None:
    for epoch in (0, 1):
        single = _global_batches(26, 4, 1, seed=3, epoch=epoch)
        assert len(single) == 6 and all(len(b) == 4 for b in single)
        assert _global_batches(26, 4, world, seed=3, epoch=epoch) == single
    assert _global_batches(26, 4, 1, 3, 0) != _global_batches(26, 4, 1, 3, 1)  # reshuffled per epoch
    assert _global_batches(26, 4, 1, 3, 0) != _global_batches(26, 4, 1, 4, 0)  # and per seed


def test_position_skips_whole_batches() -> None:
    sampler = ResumableShardedSampler(20, 1, 0, seed=0, per_rank_batch=3)
    sampler.set_position(2, 0)
    full = list(sampler)
    assert len(full) == 18 and len(set(full)) == 18
    sampler.set_position(2, 4)
    assert list(sampler) == full[12:] and len(sampler) == 6
    sampler.set_position(2, 6)
    assert list(sampler) == []


def test_batch_must_split_across_ranks() -> None:
    with pytest.raises(ConfigError, match="batch_size=6 does not split evenly across 4 processes"):
        make_loader(list(range(40)), 6, 4, 0, 0)

"""The training data stream: a seeded, sharded, resumable order over an ``ObjectsDataset``.

Every epoch is a fresh permutation seeded with ``seed + epoch`` (``DistributedSampler``'s
scheme); rank ``r`` of ``R`` takes every R-th index, so the union of the ranks' b-th batches is
exactly the b-th block of ``batch_size`` indices of the permutation: the effective batch is the
same whatever the number of ranks. The position in the stream is ``(epoch, batch)``, which a
checkpoint stores so that ``--resume`` reads the same batches as an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from emorl_eval.errors import ConfigError, DataError


def open_dataset(path: str | Path, split: str) -> Dataset:
    """``emorl_eval.data.ObjectsDataset(path, split)``; a missing file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    from emorl_eval.data import ObjectsDataset

    return ObjectsDataset(path, split=split)


def data_identity(path: str | Path) -> dict[str, str]:
    """What identifies a run's data file whatever path names it: ``{"path": absolute path,
    "sha256": of the file's bytes}``. Stored in checkpoints so that ``--resume`` accepts the same
    file under another path (relative vs absolute, a moved folder) and refuses a changed file."""
    from emorl_eval.models.checkpoints import file_sha256

    return {"path": str(Path(path).resolve()), "sha256": file_sha256(path)}


def same_data_problem(saved_path: str, saved_identity: dict[str, str] | None, path: str | Path,
                      now: dict[str, str]) -> str | None:
    """Why the data ``path`` given now (its :func:`data_identity` ``now``) is not the data a run was
    started on (one line), or None.

    ``saved_identity`` is the checkpoint's :func:`data_identity` (None for runs written before it
    was stored: then only the path can be compared, literally or resolved from the current folder).
    """
    if saved_identity is None:
        if saved_path == str(path) or Path(saved_path).resolve() == Path(path).resolve():
            return None
        return f"data: {saved_path!r} -> {str(path)!r}"
    if now["sha256"] == saved_identity.get("sha256"):
        return None
    where = "the same file changed" if now["path"] == saved_identity.get("path") else "another file"
    return (f"data: {saved_path!r} -> {str(path)!r} ({where}: sha256 "
            f"{str(saved_identity.get('sha256'))[:12]} -> {now['sha256'][:12]})")


class ResumableShardedSampler(Sampler[int]):
    """This rank's shard of the epoch permutation, starting at a given batch.

    Args:
        num_items: dataset length.
        num_replicas / rank: DDP world size and this rank.
        seed: base seed of the permutations.
        per_rank_batch: batch size on this rank (global batch / num_replicas).
    """

    def __init__(self, num_items: int, num_replicas: int, rank: int, seed: int, per_rank_batch: int) -> None:
        self._inner = DistributedSampler(
            range(num_items), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.per_rank_batch = per_rank_batch
        self.batches_per_epoch = len(self._inner) // per_rank_batch
        self._start = 0

    def set_position(self, epoch: int, batch: int) -> None:
        """Iterate epoch ``epoch`` from its batch ``batch`` on."""
        self._inner.set_epoch(epoch)
        self._start = batch * self.per_rank_batch

    def __iter__(self) -> Iterator[int]:
        usable = self.batches_per_epoch * self.per_rank_batch
        indices = list(self._inner)[:usable]
        return iter(indices[self._start:])

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch * self.per_rank_batch - self._start)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_replicas: int,
    rank: int,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader, ResumableShardedSampler]:
    """A DataLoader of this rank's ``batch_size // num_replicas`` items per step and its sampler.

    Raises ConfigError when the batch does not split evenly across ranks and DataError when the
    dataset holds fewer items than one global batch.
    """
    if batch_size % num_replicas:
        raise ConfigError(f"batch_size={batch_size} does not split evenly across {num_replicas} processes")
    per_rank = batch_size // num_replicas
    sampler = ResumableShardedSampler(len(dataset), num_replicas, rank, seed, per_rank)
    if sampler.batches_per_epoch < 1:
        raise DataError(f"the dataset holds {len(dataset)} images, fewer than one batch of {batch_size}")
    loader = DataLoader(
        dataset,
        batch_size=per_rank,
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=pin_memory,
        # its own generator, so that creating an iterator never draws from the global RNG
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )
    return loader, sampler

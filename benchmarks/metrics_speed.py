"""Time every per-image metric for 320 images at 96x96 with K=7 slots on the CPU.

Prints the wall-clock time of each metric and of the whole set (the evaluation runner's cost on
top of model inference). Target: well under 1 s. Run: ``python benchmarks/metrics_speed.py``
(``--threads 2`` to use two cores; default one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emorl_eval.metrics import (  # noqa: E402
    adjusted_rand_index,
    hungarian_match,
    kl_per_image,
    mask_metrics,
    mean_best_overlap,
    mse,
    segmentation_covering,
)


def make_batch(n: int, size: int, k: int, objects: int, seed: int) -> dict[str, torch.Tensor]:
    """Blocky ground truth (label map) and soft masks that roughly follow it."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, objects + 1, (n, size // 8, size // 8), generator=g)
    true = coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)
    logits = 3 * torch.nn.functional.one_hot(true % k, k).permute(0, 3, 1, 2).float()
    masks = (logits + torch.randn(n, k, size, size, generator=g)).softmax(dim=1).unsqueeze(2)
    images = torch.rand(n, 3, size, size, generator=g)
    recon = (images + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    kl = torch.rand(n, generator=g) * 100
    return {"true": true, "masks": masks, "images": images, "recon": recon, "kl": kl}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=320)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--slots", type=int, default=7)
    parser.add_argument("--objects", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b = make_batch(args.num, args.size, args.slots, args.objects, seed=0)
    metrics = {
        "ARI (fg)": lambda: adjusted_rand_index(b["true"], b["masks"]),
        "ARI (all)": lambda: adjusted_rand_index(b["true"], b["masks"], foreground_only=False),
        "MSE": lambda: mse(b["images"], b["recon"]),
        "KL": lambda: kl_per_image(b["kl"]),
        "mSC": lambda: segmentation_covering(b["true"], b["masks"]),
        "mBO": lambda: mean_best_overlap(b["true"], b["masks"]),
        "Hungarian match": lambda: hungarian_match(b["true"], b["masks"]),
    }
    combined = {
        "mask_metrics (ARI fg+all, mSC, SC, mBO, matched IoU)": lambda: mask_metrics(b["true"], b["masks"]),
        "MSE": metrics["MSE"],
        "KL": metrics["KL"],
    }
    for fn in metrics.values():  # warm-up
        fn()
    print(f"{args.num} images {args.size}x{args.size}, K={args.slots}, torch threads={args.threads}, "
          f"best of {args.repeats}")
    print("each metric on its own:")
    for name, fn in metrics.items():
        print(f"  {name:<16} {best_of(fn, args.repeats) * 1000:8.1f} ms")
    print("what the evaluation runner calls per batch (shared argmax and contingency table):")
    total = 0.0
    for name, fn in combined.items():
        t = best_of(fn, args.repeats)
        total += t
        print(f"  {name:<16} {t * 1000:8.1f} ms")
    print(f"all metrics for {args.num} images: {total * 1000:.1f} ms (target < 1000 ms)")


def best_of(fn, repeats: int) -> float:
    """Shortest wall-clock time of ``repeats`` calls, seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()

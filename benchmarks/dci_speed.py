"""How long DCI's tree fitting takes on a CLEVR6-sized pair set.

CLEVR6 test images give about 1,900 matched (object, slot) pairs of 64-dim codes with 8 factors
(x, y, z, rotation continuous; size, material, shape, color discrete). The target is < 60 s on
2 cores per protocol. Codes are synthetic (half the dims carry a noisy factor, the rest noise):
tree fitting time depends on the sizes and the number of classes, not on the model.

    python benchmarks/dci_speed.py [--pairs 1900] [--dims 64] [--n-jobs 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emorl_eval.dci import dci_scores  # noqa: E402
from emorl_eval.dci.backend import dlib_modules  # noqa: E402

KINDS = ["continuous"] * 4 + ["discrete"] * 4
NAMES = ["x", "y", "z", "rotation", "size", "material", "shape", "color"]
CLASSES = [2, 2, 3, 8]  # CLEVR: size, material, shape, color


def clevr_like_pairs(n: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cont = rng.uniform(-3, 3, size=(n, 4))
    disc = np.stack([rng.integers(0, c, n) for c in CLASSES], 1).astype(float)
    factors = np.concatenate([cont, disc], 1)
    codes = rng.normal(size=(n, dims))
    mix = rng.normal(size=(8, dims // 2))  # first half of the dims mixes the factors linearly
    codes[:, : dims // 2] += (factors - factors.mean(0)) / factors.std(0) @ mix
    return codes, factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1900)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--protocols", default="dlib,regression")
    args = parser.parse_args()

    dlib_modules()  # import cost is not part of the fit
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    codes, factors = clevr_like_pairs(args.pairs, args.dims, seed=0)
    print(f"pairs={args.pairs} dims={args.dims} factors=8 (4 continuous, 4 discrete) n_jobs={args.n_jobs} "
          f"cpus={os.cpu_count()} load1={load:.1f} (wall times grow with other load, CPU time much less)")
    for protocol in args.protocols.split(","):
        times, cpus = [], []
        for r in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            res = dci_scores(codes, factors, KINDS, seed=r, protocol=protocol, n_jobs=args.n_jobs,
                             factor_names=NAMES)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)  # all threads of this process
        verdict = "OK" if max(times) < 60 else "TOO SLOW"
        print(f"protocol={protocol:<10s} fit={np.median(times):6.1f} s (max {max(times):.1f} s, "
              f"target < 60 s: {verdict}; CPU {np.median(cpus):.1f} s, i.e. >= {np.median(cpus) / 2:.1f} s on 2 idle "
              f"cores)  D={res['disentanglement']:.3f} C={res['completeness']:.3f} "
              f"I_test={res['informativeness_test']:.3f}")


if __name__ == "__main__":
    main()

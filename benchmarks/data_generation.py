"""Speed of the built-in dataset generators and of the data I/O, on one core.

Run from the repository root: ``python benchmarks/data_generation.py [--quick]``.
Target (issue 2): 10,000 Tetrominoes images in under 10 s on one core.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emorl_eval.data import generate, generate_h5  # noqa: E402


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images for the slow generators")
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    import torch

    torch.set_num_threads(1)

    rows = []
    t = timed(generate, "tetrominoes", 10_000, 0)
    rows.append(("tetrominoes 35x35", 10_000, t))
    q = 0.25 if args.quick else 1.0
    for name, opts, num in (("multi_dsprites", {}, 2000), ("textured_dsprites", {}, 1000),
                            ("clevr_like", {}, 100), ("clevr_like", {"size": 128}, 40),
                            ("clevr_like", {"supersample": 2}, 40)):
        n = max(4, int(num * q))
        label = f"{name} {opts.get('size', 96 if name == 'clevr_like' else 64)}px" + \
            (f" ss{opts['supersample']}" if "supersample" in opts else "")
        rows.append((label, n, timed(generate, name, n, 1, **opts)))

    print(f"{'generator':28s} {'images':>7s} {'total s':>8s} {'ms/image':>9s}")
    for label, n, t in rows:
        print(f"{label:28s} {n:7d} {t:8.2f} {1e3 * t / n:9.3f}")
    tetro = rows[0][2]
    print(f"\n10,000 Tetrominoes on one core: {tetro:.2f} s (target < 10 s: {'met' if tetro < 10 else 'MISSED'})")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.h5"
        t = timed(generate_h5, path, "tetrominoes", 10_000, 0)
        print(f"generate_h5 tetrominoes 10,000 (incl. gzip h5 write): {t:.2f} s, {path.stat().st_size / 1e6:.1f} MB")
        from emorl_eval.data import ObjectsDataset

        for in_memory in (False, True):
            ds = ObjectsDataset(path, "train", in_memory=in_memory)
            ds[0]
            n = 2000
            t0 = time.perf_counter()
            for i in range(n):
                ds[(i * 7919) % len(ds)]
            t = time.perf_counter() - t0
            print(f"ObjectsDataset random access (in_memory={in_memory}): {1e3 * t / n:.3f} ms/item ({n / t:.0f} items/s)")

        from emorl_eval.data.deepmind import SCHEMAS, row_to_example
        from emorl_eval.data.tfrecord import read_examples, write_tfrecord

        s = generate("tetrominoes", 500, 0)
        ex = [row_to_example(SCHEMAS["tetrominoes"], s.images[i], s.masks[i], s.factors[i], s.visibility[i], 4)
              for i in range(len(s))]
        rec = write_tfrecord(Path(tmp) / "t.tfrecords", ex)
        t = timed(lambda: list(read_examples(rec)))
        print(f"TFRecord read (Tetrominoes records): {1e3 * t / len(ex):.3f} ms/record")


if __name__ == "__main__":
    main()

"""Training throughput (steps/s, images/s) of ``emorl-eval train`` for a model and preset.

Generates a small dataset of the preset's kind (unless ``--data`` is given), trains for
``--steps`` steps with ``--log-every`` steps per row of ``metrics.csv`` and prints the steps/s of
every row after the first (the first includes start-up), their median and the images/s.

    python benchmarks/train_speed.py --preset tetrominoes --steps 60 --log-every 20          # CPU
    python benchmarks/train_speed.py --preset tetrominoes --device cuda --steps 600 --log-every 100 --workers 4
    python benchmarks/train_speed.py --preset tetrominoes --set num_slots=2 --set latent_dim=8 --batch-size 8

``--threads`` sets torch's CPU threads (default 1: the shared CI machine has 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_DATASET_OF = {"tetrominoes": "tetrominoes", "multi_dsprites": "multi_dsprites", "clevr6": "clevr_like"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="emorl")
    parser.add_argument("--preset", default="tetrominoes")
    parser.add_argument("--data", default=None, help="an .h5 file; default: generate 256 images")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    import pandas as pd
    import torch

    from emorl_eval.data import generate_h5
    from emorl_eval.training import resolve_train_config, train

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            name = next((d for prefix, d in _DATASET_OF.items() if args.preset.startswith(prefix)), "tetrominoes")
            data = generate_h5(Path(tmp) / f"{name}.h5", name, num=256, seed=0, test_fraction=1 / 16)
        cfg = resolve_train_config(
            args.model, str(data), str(Path(tmp) / "run"), args.preset, sets=args.sets, steps=args.steps,
            batch_size=args.batch_size, log_every=args.log_every, ckpt_every=10**9, device=args.device,
            bf16=args.bf16 or None, num_workers=args.workers, progress=False,
        )
        train(cfg)
        rows = pd.read_csv(Path(cfg.out) / "metrics.csv")
    rates = rows["steps_per_s"].tolist()[1:] or rows["steps_per_s"].tolist()
    median = statistics.median(rates)
    print(f"model={cfg.model} preset={cfg.preset} device={cfg.device} bf16={cfg.bf16} batch={cfg.batch_size} "
          f"threads={args.threads} overrides={cfg.model_overrides}")
    print(f"steps/s per row (first row dropped): {', '.join(f'{r:.3f}' for r in rates)}")
    print(f"median steps/s: {median:.3f}   images/s: {median * cfg.batch_size:.1f}")


if __name__ == "__main__":
    main()

"""Two one-thread training runs in parallel, or one two-thread run: which gives more steps per hour?

Runs ``benchmarks/train_speed.py`` (``emorl-eval train`` on generated data) twice: once as a
single process with ``--threads N`` (N = ``--cores``), once as N one-thread processes started
together, and prints each process's median steps/s and the machine's total. Run it on an
otherwise idle machine (stop background training first): anything else on the cores makes both
figures meaningless.

    python benchmarks/parallel_runs.py --preset tetrominoes_cpu --steps 120 --log-every 20
    python benchmarks/parallel_runs.py --model genesis_v2 --preset tetrominoes_cpu --steps 300 --log-every 50
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

SPEED = Path(__file__).resolve().parent / "train_speed.py"
_MEDIAN = re.compile(r"median steps/s: ([0-9.]+)")


def _command(args: argparse.Namespace, threads: int) -> list[str]:
    cmd = [sys.executable, str(SPEED), "--model", args.model, "--preset", args.preset, "--steps", str(args.steps),
           "--log-every", str(args.log_every), "--threads", str(threads)]
    for item in args.sets:
        cmd += ["--set", item]
    return cmd


def _median(output: str) -> float:
    match = _MEDIAN.search(output)
    if match is None:
        raise SystemExit(f"train_speed.py printed no median:\n{output}")
    return float(match.group(1))


def _run_together(commands: list[list[str]]) -> list[float]:
    """Start every command at once; the median steps/s each printed."""
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # torch.set_num_threads in each sets the rest
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **env}) for cmd in commands]
    outputs = [p.communicate()[0] for p in procs]
    for p, out in zip(procs, outputs):
        if p.returncode != 0:
            raise SystemExit(f"a run failed (exit {p.returncode}):\n{out}")
    return [_median(out) for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="emorl")
    parser.add_argument("--preset", default="tetrominoes_cpu")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    [single] = _run_together([_command(args, args.cores)])
    parallel = _run_together([_command(args, 1) for _ in range(args.cores)])
    print(f"model={args.model} preset={args.preset} steps={args.steps} overrides={args.sets}")
    print(f"one process, {args.cores} threads:  {single:.3f} steps/s")
    print(f"{args.cores} processes, 1 thread each: {', '.join(f'{r:.3f}' for r in parallel)} steps/s "
          f"(total {sum(parallel):.3f})")
    better = "parallel one-thread runs" if sum(parallel) > single else f"one {args.cores}-thread run"
    print(f"more steps per hour: {better} ({max(sum(parallel), single) / min(sum(parallel), single):.2f}x)")


if __name__ == "__main__":
    main()

"""Forward + backward + Adam step time of EfficientMORL per preset and batch size.

    python benchmarks/model_step.py                      # tetrominoes@32, clevr6@4, ours vs reference mode
    python benchmarks/model_step.py --presets clevr6 --batch-sizes 4 --repeats 5 --threads 2
    python benchmarks/model_step.py --profile clevr6     # torch.profiler table of one step

"reference mode" runs the reference's computation literally (second-order graph for the
refinement gradients via create_graph=True, plain broadcast decoding); same values (tested in
tests/models/test_efficient_morl.py), so the ratio is the speed-up of the implementation. Prints
the median of ``--repeats`` timed steps after ``--warmup`` untimed ones (modes interleaved), as
wall-clock and as process CPU time (the robust figure on a shared machine with --threads 1),
and the machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from emorl_eval import models  # noqa: E402

DEFAULT = [("tetrominoes", 32), ("clevr6", 4)]


def make_step(model: torch.nn.Module, batch_size: int, seed: int = 0):
    h, w = model.image_size
    images = torch.rand(batch_size, 3, h, w, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=4e-4)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    model.on_train_step(10_000)  # GECO active, as in most of training

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        out = model(images, generator=gen)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        model.after_backward(out)
        return float(out.loss.detach())

    return step


def time_steps(preset: str, batch_size: int, modes: list[bool], warmup: int, repeats: int
               ) -> dict[bool, tuple[list[float], list[float]]]:
    """Wall and CPU seconds per step for each mode (False = ours, True = reference mode), the
    modes interleaved step by step so that they share the machine's conditions."""
    steps = {}
    for ref in modes:
        torch.manual_seed(0)
        model = models.build("emorl", preset=preset)
        model.reference_mode = ref
        steps[ref] = make_step(model, batch_size)
        for _ in range(warmup):
            steps[ref]()
    times: dict[bool, tuple[list[float], list[float]]] = {ref: ([], []) for ref in modes}
    for _ in range(repeats):
        for ref in modes:
            w0, c0 = time.perf_counter(), time.process_time()
            steps[ref]()
            times[ref][0].append(time.perf_counter() - w0)
            times[ref][1].append(time.process_time() - c0)
    return times


def profile(preset: str, batch_size: int, reference_mode: bool) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    model = models.build("emorl", preset=preset)
    model.reference_mode = reference_mode
    step = make_step(model, batch_size)
    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="*", default=None, help="presets (default: tetrominoes clevr6)")
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=None, help="one per preset (default 32 4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine has 2 shared cores)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-mode baseline")
    parser.add_argument("--profile", metavar="PRESET", default=None, help="print a profiler table for PRESET")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = DEFAULT
    if args.presets:
        sizes = args.batch_sizes or [dict(DEFAULT).get(p, 4) for p in args.presets]
        runs = list(zip(args.presets, sizes))
    if args.profile:
        profile(args.profile, dict(runs).get(args.profile, 4), reference_mode=False)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), cpus {os.cpu_count()}, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print("wall = elapsed seconds; cpu = this process's CPU seconds (robust to other load on a shared machine)")
    print(f"{'preset':<14}{'batch':>6}  {'mode':<10}{'wall med':>9}{'cpu med':>9}{'cpu min':>9}   cpu all")
    for preset, batch in runs:
        modes = [False] if args.no_reference else [False, True]
        times = time_steps(preset, batch, modes, args.warmup, args.repeats)
        for ref in modes:
            wall, cpu = times[ref]
            print(f"{preset:<14}{batch:>6}  {'reference' if ref else 'ours':<10}{statistics.median(wall):>9.2f}"
                  f"{statistics.median(cpu):>9.2f}{min(cpu):>9.2f}   {' '.join(f'{t:.2f}' for t in cpu)}", flush=True)
        if not args.no_reference:
            wall_x = statistics.median(times[True][0]) / statistics.median(times[False][0])
            cpu_x = statistics.median(times[True][1]) / statistics.median(times[False][1])
            print(f"{'':<14}{'':>6}  speed-up: wall x{wall_x:.2f}, cpu x{cpu_x:.2f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

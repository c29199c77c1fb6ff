"""``emorl-eval report RUNS/``: every table and figure that applies, indexed in reports/README.md."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import parse_int_list, resolve_device, OutputPath
from emorl_eval.devices import DEVICE_HELP, check_device_option


@click.command("report")
@click.argument("runs", type=click.Path(path_type=Path))
@click.option("--data", "data_files", multiple=True, type=click.Path(path_type=Path),
              help="Dataset file(s); each run's figures use the first one whose image size fits its model. "
                   "Repeat for several datasets. Without it, figures and leakage are skipped.")
@click.option("--out", type=OutputPath("dir"), default=Path("reports"), show_default=True,
              help="Report folder (README.md is written there).")
@click.option("--num-images", type=click.IntRange(min=1), default=4, show_default=True, help="Rows of each decomposition figure.")
@click.option("--range-images", type=click.IntRange(min=2), default=100, show_default=True,
              help="Images giving the latent ranges of traversals and leakage.")
@click.option("--leakage-images", type=click.IntRange(min=1), default=4, show_default=True, help="Images the leakage is measured on.")
@click.option("--dims-per-slot", type=click.IntRange(min=1), default=4, show_default=True, help="Leakage: dimensions varied per slot.")
@click.option("--timing/--no-timing", default=False, show_default=True,
              help="Also measure forward+backward time of --timing-models (slow on a CPU).")
@click.option("--timing-models", default="emorl,genesis,slot_attention,iodine", show_default=True)
@click.option("--timing-sizes", default="64,96,128", show_default=True)
@click.option("--timing-repeats", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP, callback=check_device_option)
def report(runs, data_files, out, num_images, range_images, leakage_images, dims_per_slot, timing,
           timing_models, timing_sizes, timing_repeats, seed, device) -> None:
    """Run what applies to the run folders below RUNS: the ablation table; with --data, per run
    with a checkpoint the decomposition, traversal and stages figures and the leakage; with
    --timing, the efficiency timing. Writes OUT/README.md linking every table and figure under
    OUT (including ones written earlier by other commands). Runs that cannot be processed are
    listed with the reason in the README."""
    from emorl_eval.reports.report import build_report

    device = resolve_device(device)
    timing_kwargs = None
    if timing:
        timing_kwargs = {"model_names": [m.strip() for m in timing_models.split(",") if m.strip()],
                         "sizes": parse_int_list(timing_sizes, "--timing-sizes"), "batch_size": 4,
                         "repeats": timing_repeats, "warmup": 3, "device": device, "seed": seed, "progress": True}
    result = build_report(runs, list(data_files), out=out, timing=timing_kwargs, num_images=num_images,
                          range_images=range_images, leakage_images=leakage_images, dims_per_slot=dims_per_slot,
                          seed=seed, device=device, log=lambda s: click.echo(s, err=True))
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {result.readme} ({len(result.written)} artifacts this run)")

"""``emorl-eval timing``: parameter counts and forward+backward time (appendix E.3, Figure 22)."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import parse_int_list, resolve_device, OutputPath
from emorl_eval.devices import DEVICE_HELP, check_device_option


@click.command("timing")
@click.option("--models", "model_names", default="emorl,genesis,slot_attention,iodine", show_default=True,
              help="Comma-separated models: built-in names, plug-in entry points or package.module:Class specs.")
@click.option("--sizes", default="64,96,128", show_default=True, help="Comma-separated square image sizes.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True, help="Timed steps (the median is reported).")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed steps before timing.")
@click.option("--preset", default="clevr6", show_default=True,
              help="Preset to build each model with (a model without it uses its default preset).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP, callback=check_device_option)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch.set_num_threads on the CPU.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=OutputPath("file"), default=Path("reports/timing/timing"), show_default=True,
              help="Output prefix: PREFIX.csv, PREFIX.md, PREFIX.png.")
def timing(model_names, sizes, batch_size, repeats, warmup, preset, device, threads, seed, out) -> None:
    """Trainable parameters and forward+backward time per training step (no optimiser update)
    for each model and image size: the median of --repeats steps after --warmup, timed with CUDA
    events on a GPU and perf_counter on the CPU. Models not registered (or failing to build at a
    size) are reported in one line each."""
    import pandas as pd
    import torch

    from emorl_eval.errors import ConfigError
    from emorl_eval.reports.plots import timing_plot
    from emorl_eval.reports.tables import to_markdown
    from emorl_eval.reports.timing import measure_timing

    names = [n.strip() for n in model_names.split(",") if n.strip()]
    size_list = parse_int_list(sizes, "--sizes")
    if not names or not size_list:
        raise ConfigError("--models and --sizes must not be empty")
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ConfigError("--repeats and --batch-size must be >= 1 and --warmup >= 0")
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device)
    df = measure_timing(names, size_list, batch_size=batch_size, repeats=repeats, warmup=warmup,
                        preset=preset, device=device, seed=seed, progress=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_name(out.name + ".csv"), index=False)
    ok = df[df["status"] == "ok"]
    shown = ok[["model", "preset", "image_size", "params", "paper_params", "ms_per_step", "ms_min", "ms_max"]].copy()
    shown["paper_params"] = shown["paper_params"].map(lambda v: "-" if pd.isna(v) else f"~{int(v):,}")
    shown[["ms_per_step", "ms_min", "ms_max"]] = shown[["ms_per_step", "ms_min", "ms_max"]].round(2)
    header = (f"# Forward + backward time per step\n\nbatch {batch_size}, device {device}, median of "
              f"{repeats} after {warmup} warm-up steps; params = trainable parameters.\n\n")
    notes = "".join(f"- {r.model} @ {r.image_size}: {r.status}\n" for r in df[df["status"] != "ok"].itertuples())
    out.with_name(out.name + ".md").write_text(header + to_markdown(shown) + ("\n" + notes if notes else ""))
    fig = timing_plot(ok, out.with_name(out.name + ".png"))
    click.echo(to_markdown(shown), nl=False)
    # one line per model that could not be timed at all, one per failing size otherwise
    for name, group in df[df["status"] != "ok"].groupby("model", sort=False):
        if (df["model"] == name).sum() == len(group) and group["status"].nunique() == 1:
            click.echo(f"{name}: {group['status'].iloc[0]}")
        else:
            for r in group.itertuples():
                click.echo(f"{name} @ {r.image_size}: {r.status}")
    click.echo(f"wrote {out}.csv, {out}.md" + (f", {fig}" if fig else ""))

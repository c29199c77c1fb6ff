"""``emorl-eval refine-sweep``: metrics against the number of test-time refinement steps I."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import OutputPath
from emorl_eval.commands.evaluate import common_options


def parse_steps(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; anything else is a usage error."""
    try:
        steps = [int(s) for s in value.split(",") if s.strip() != ""]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 0,1,2,3, got {value!r}") from None
    if not steps or min(steps) < 0:
        raise click.BadParameter(f"expected non-negative integers such as 0,1,2,3, got {value!r}")
    return list(dict.fromkeys(steps))


@click.command("refine-sweep")
@common_options
@click.option("--steps", default="0,1,2,3,4,5,6", show_default=True, callback=parse_steps,
              help="Comma-separated numbers of refinement steps I to evaluate.")
@click.option("--out", default=None, type=OutputPath("dir"),
              help="Folder of refine_sweep.csv [default: eval/ beside the checkpoint].")
@click.option("--figure", default=None, type=OutputPath("file"),
              help="Figure path [default: reports/figures/refine_sweep_<run>_<checkpoint>.png].")
def refine_sweep(ckpt: Path, data: Path, split: str, num: int, batch_size: int, seed: int, preset: str | None,
                 device: str, progress: bool, steps: list[int], out: Path | None, figure: Path | None) -> None:
    """Evaluate one checkpoint at several numbers of test-time refinement steps I (appendix D,
    Figure 14).

    Writes OUT/refine_sweep.csv in long format (one row per I, image and metric: the identity
    columns of `evaluate`, then metric and value) and a 3-panel seaborn figure of ARI (fg), MSE and
    KL against I (mean over images, 95% bootstrap interval), and prints the means per I. All I use
    the same images and seed. Models without refinement (e.g. Slot Attention, GENESIS) are refused
    with a one-line message.

    Example: emorl-eval refine-sweep --ckpt runs/tetro_s0 --data data/tetrominoes.h5 --steps 0,1,2,3,4,5,6
    """
    from emorl_eval.evaluate import (
        default_out_dir,
        load_inputs,
        prepare_out_dir,
        refinement_sweep,
        resolve_checkpoint,
        sweep_summary,
        write_sweep,
    )
    from emorl_eval.reports.refinement import refinement_figure

    model, dataset, metadata = load_inputs(ckpt, data, split=split, preset=preset, device=device)
    out = prepare_out_dir(out if out is not None else default_out_dir(ckpt))
    long = refinement_sweep(model, dataset, steps, num=num, batch_size=batch_size, seed=seed, device=device,
                            progress=progress, metadata=metadata)
    csv_path = write_sweep(long, out)
    if figure is None:
        file = Path(resolve_checkpoint(ckpt)).resolve()
        figure = Path("reports/figures") / f"refine_sweep_{file.parent.name}_{file.stem}.png"
    first = long.iloc[0]
    title = f"{first['model']} on {first['dataset']} ({first['split']}, {long['image_index'].nunique()} images)"
    fig_path = refinement_figure(long, figure, title=title, seed=seed)
    table = sweep_summary(long)
    click.echo(table.to_markdown(index=False, floatfmt=".4g"))
    click.echo(f"wrote {csv_path}, {fig_path}")

"""``emorl-eval ablation-table RUNS/``: appendix Table 2 over evaluated run folders."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import OutputPath


@click.command("ablation-table")
@click.argument("runs", type=click.Path(path_type=Path))
@click.option("--out", default="reports/tables/ablation", show_default=True, type=OutputPath("file"),
              help="Output prefix: writes PREFIX.md, .csv, .tex, _runs.csv, _missing.csv and PREFIX.png.")
def ablation_table(runs: Path, out: Path) -> None:
    """Aggregate evaluated runs into appendix Table 2 (Env, variant, steps, ARI, MSE (x1e-4), KL
    as mean ± std across seeds, n seeds).

    RUNS is a directory searched (any depth) for run folders holding config.json (model, preset,
    dataset, seed) and eval/per_image.csv or eval/summary.csv (written by `emorl-eval evaluate`).
    Runs share a row only when they are the same variant evaluated at the same step: same dataset,
    model and preset, and the same resolved model-config and training fields except the seed (a run
    with --set use_geco=false is its own row, named by what departs from its preset, e.g.
    "emorl (use_geco=false)"; the ablation presets such as tetrominoes_no_geco read "emorl w/out
    geco"). Runs without an evaluation are listed, not dropped.
    """
    from emorl_eval.reports.plots import ablation_plot
    from emorl_eval.reports.runs import discover_runs
    from emorl_eval.reports.tables import ablation_table as aggregate, display_table, to_markdown, write_ablation

    table = discover_runs(runs)
    paths = write_ablation(table, out)
    fig = ablation_plot(table, Path(str(out) + ".png"))
    click.echo(to_markdown(display_table(aggregate(table))), nl=False)
    if len(table.missing):
        click.echo(f"\n{len(table.missing)} run(s) missing an evaluation:")
        for r in table.missing.itertuples():
            click.echo(f"  {r.path}: {r.reason}")
    written = list(paths.values()) + ([fig] if fig else [])  # md, csv, tex, _runs.csv, _missing.csv
    click.echo("\nwrote " + ", ".join(str(p) for p in written))

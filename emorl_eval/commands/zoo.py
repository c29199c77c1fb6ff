"""``emorl-eval zoo``: list, show and add the shipped trained models (``--ckpt zoo:NAME``)."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import OutputPath


@click.group("zoo")
def zoo_group() -> None:
    """Trained models shipped with emorl-eval; every --ckpt option accepts zoo:NAME.

    \b
    Example:
      emorl-eval zoo list
      emorl-eval zoo show emorl-tetrominoes-nogeco-s1
      emorl-eval evaluate --ckpt zoo:emorl-tetrominoes-nogeco-s1 --data data/tetrominoes.h5
    """


@zoo_group.command("list")
@click.option("--markdown", is_flag=True, help="Print a markdown table (for docs) instead of columns.")
def zoo_list(markdown: bool) -> None:
    """Names, training steps and the evaluation numbers measured on each checkpoint."""
    from emorl_eval import zoo

    found = zoo.entries()
    if not found:
        click.echo("the zoo is empty")
        return
    if markdown:
        # steps count the whole lineage (the step counter continues from a parent), so do the minutes
        click.echo("| name | model / preset | steps | train min | FG-ARI | ARI | MSE | KL | test images |")
        click.echo("|---|---|---|---|---|---|---|---|---|")
        for e in found:
            c = e.card
            click.echo(f"| `zoo:{e.name}` | `{c['model']}` / `{c['preset']}` | {c['steps']:,} | {lineage_minutes(c)} | "
                       f"{e.metric('ari_fg'):.3f} ± {e.metric('ari_fg_std'):.3f} | {e.metric('ari_all'):.3f} | "
                       f"{e.metric('mse'):.2e} | {_kl(e, '.1f')} | {c['evaluation']['num_images']} |")
        return
    header = f"{'name':<35} {'model':<15} {'preset':<24} {'steps':>7} {'minutes':>7} {'FG-ARI':>7} {'MSE':>9} {'KL':>7}  images"
    click.echo(header)
    for e in found:
        card = e.card
        click.echo(f"{'zoo:' + e.name:<35} {card['model']:<15} {str(card['preset']):<24} {card['steps']:>7} "
                   f"{lineage_minutes(card):>7} {e.metric('ari_fg'):>7.4f} {e.metric('mse'):>9.2e} {_kl(e, '.2f'):>7}"
                   f"  {card['evaluation']['num_images']} test")


def lineage_minutes(card: dict) -> float:
    """Training minutes of an entry's whole lineage (its parents' included), like its step count;
    the entry's own run's minutes for an entry trained from scratch."""
    return round(float(card.get("cumulative_train_minutes", card["train_minutes"])), 1)


def _kl(entry, spec: str) -> str:
    """The card's KL, or n/a for a model without one (Slot Attention)."""
    import math

    value = entry.metric("kl")
    return "n/a" if math.isnan(value) else format(value, spec)


@zoo_group.command("show")
@click.argument("name")
def zoo_show(name: str) -> None:
    """Print the model card of NAME (zoo:NAME or NAME)."""
    from emorl_eval import zoo

    entry = zoo.entry(name)
    click.echo((entry.folder / zoo.CARD_MARKDOWN).read_text())
    click.echo(f"folder: {entry.folder}")


@zoo_group.command("add")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Zoo name, e.g. emorl-tetrominoes-nogeco-s1.")
@click.option("--data", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Dataset whose test split the card's numbers are measured on.")
@click.option("--num", default=320, show_default=True, type=click.IntRange(min=1), help="Test images evaluated.")
@click.option("--description", default="", help="One paragraph for the model card.")
@click.option("--machine", default=None, help="Where it was trained [this machine: OS, CPU cores, torch].")
@click.option("--zoo-dir", default=None, type=OutputPath("dir"),
              help="Zoo folder to write to [the shipped zoo, emorl_eval/zoo].")
@click.option("--overwrite", is_flag=True, help="Replace an existing entry of that name.")
@click.option("--train-commit", default=None,
              help="Commit of the code the run trained with [the run's config.json git_commit].")
@click.option("--step", type=click.IntRange(min=0), default=None, show_default="the last",
              help="Package the run's checkpoint of this step (checkpoint_<step>.pt) instead of its last.")
def zoo_add(run: Path, name: str, data: Path, num: int, description: str, machine: str | None,
            zoo_dir: Path | None, overwrite: bool, train_commit: str | None, step: int | None) -> None:
    """Package RUN's latest checkpoint, or that of --step, (weights and config only) as a zoo
    entry with its model card; the entry's training log stops at the packaged step.

    The card's numbers are measured here, on this checkpoint: the first NUM test images of DATA.
    """
    from emorl_eval import zoo
    from emorl_eval.zoo.packaging import add_run

    folder = add_run(run, name, data, num=num, root=zoo_dir or zoo.SHIPPED_ROOT, description=description,
                     machine=machine, overwrite=overwrite, progress=True, train_commit=train_commit,
                     step=step)
    click.echo((folder / zoo.CARD_MARKDOWN).read_text())
    click.echo(f"wrote {folder}")

"""``emorl-eval leakage-compare``: leakage of several checkpoints on the same images and settings."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from emorl_eval.commands._common import CheckpointPath, OutputPath, flags_option, model_labels, resolve_device
from emorl_eval.devices import DEVICE_HELP, check_device_option


def _step(path: Path) -> int | None:
    from emorl_eval.models.checkpoints import read_checkpoint

    try:
        step = read_checkpoint(path).get("step")
    except Exception:  # official GENESIS files: no step of ours
        return None
    return None if step is None else int(step)


@click.command("leakage-compare")
@click.option("--ckpt", "ckpts", required=True, multiple=True, type=CheckpointPath(),
              help="Checkpoint (repeat for each model): ours, a run folder, zoo:NAME, an official EfficientMORL "
                   "one (with --preset) or an official GENESIS / GENESIS-v2 one.")
@click.option("--label", "labels", multiple=True,
              help="Name of each model in the table and figure, in --ckpt order [default: zoo:NAME or the run name].")
@click.option("--preset", default=None, help="Preset for official EfficientMORL checkpoints (they store no config).")
@flags_option
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset file (.h5, EfficientMORL layout).")
@click.option("--split", default="test", show_default=True, help="Split of the data file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling noise.")
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP, callback=check_device_option)
@click.option("--num", type=click.IntRange(min=1), default=8, show_default=True, help="Images measured (the same for every model).")
@click.option("--range-images", type=click.IntRange(min=2), default=100, show_default=True,
              help="Images over which each model's latent dimensions' min and max are taken.")
@click.option("--dims-per-slot", type=click.IntRange(min=0), default=4, show_default=True,
              help="Widest-ranging dimensions varied per slot (0 = all).")
@click.option("--steps", type=click.IntRange(min=2), default=5, show_default=True, help="Values from min to max per dimension.")
@click.option("--min-change", type=float, default=0.01, show_default=True,
              help="A (image, slot, dim) whose mean absolute change is below this fraction of the model's largest "
                   "one counts as inactive and is excluded.")
@click.option("--out", type=OutputPath("file"), default=Path("reports/leakage/comparison"), show_default=True,
              help="Output prefix: PREFIX.csv (one row per model), PREFIX_per_dim.csv, PREFIX.md (table and the "
                   "command) and PREFIX.png (figure).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def leakage_compare(ckpts, labels, preset, data, split, seed, device, num, range_images, dims_per_slot, steps,
                    min_change, out, progress) -> None:
    """Appendix B / Figure 11 across models: the leakage of `emorl-eval leakage` for every --ckpt,
    measured on the same NUM test images with the same traversal settings (each model's latent
    range taken over the same --range-images images), as one table and one figure. 0 = each slot
    changes only its own pixels; (K-1)/K = a change spread evenly over the scene."""
    from emorl_eval.models.checkpoints import file_sha256
    from emorl_eval.reports.inference import check_size, load_checkpoint, load_images
    from emorl_eval.reports.leakage_comparison import compare_leakage, comparison_figure
    from emorl_eval.reports.tables import to_markdown

    specs, names = model_labels(ckpts, labels)
    device = resolve_device(device)
    ref = load_images(data, max(range_images, num), 0, split)
    images = ref[:num]
    loaded = {}
    for name, ckpt in zip(names, ckpts):
        model = load_checkpoint(ckpt, preset, device)
        check_size(model, ref, data)
        loaded[name] = model
    comparison = compare_leakage(loaded, images, range_images=ref, dims_per_slot=dims_per_slot, steps=steps,
                                 min_change=min_change, seed=seed, device=device, progress=progress)
    summary = comparison.summary
    # ``checkpoint`` is the file (as `leakage` records it: the report index matches runs by its
    # folder), ``source`` what names it (zoo:NAME or the path)
    summary.insert(1, "checkpoint", [str(c) for c in ckpts])
    summary.insert(2, "checkpoint_sha256", [file_sha256(c) for c in ckpts])
    summary.insert(3, "source", specs)
    summary.insert(5, "step", [_step(c) for c in ckpts])
    prefix = Path(out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(prefix.with_name(prefix.name + ".csv"), index=False)
    comparison.per_triple.to_csv(prefix.with_name(prefix.name + "_per_dim.csv"), index=False)
    argv = ["emorl-eval", "leakage-compare", *[a for s in specs for a in ("--ckpt", s)],
            *[a for label in labels for a in ("--label", label)], "--data", str(data), "--split", split,
            "--num", str(num), "--range-images", str(range_images), "--dims-per-slot", str(dims_per_slot),
            "--steps", str(steps), "--min-change", str(min_change), "--seed", str(seed), "--out", str(prefix)]
    if preset:
        argv += ["--preset", preset]
    shown = summary.drop(columns=["checkpoint", "checkpoint_sha256", "source"])
    shown = shown[[c for c in shown.columns if not c.startswith("leakage_slot")] +
                  [c for c in shown.columns if c.startswith("leakage_slot")]].round(4)
    figure = comparison_figure(comparison, prefix.with_name(prefix.name + ".png"))
    prefix.with_name(prefix.name + ".md").write_text(
        "# Leakage comparison\n\nFraction of a one-slot latent traversal's image change that falls outside "
        "that slot's mask (emorl_eval/reports/leakage.py), every model on the same images with the same "
        "settings; `chance` = (K-1)/K, a change spread evenly over the image.\n\n"
        f"Made with:\n\n```bash\n{shlex.join(argv)}\n```\n\n" + to_markdown(shown)
        + f"\n![leakage comparison]({figure.name})\n")
    click.echo(to_markdown(shown), nl=False)
    click.echo(f"wrote {prefix}.csv, {prefix}_per_dim.csv, {prefix}.md, {figure}")

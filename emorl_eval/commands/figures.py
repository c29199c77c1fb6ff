"""``emorl-eval figures {decompose,traverse,stages}``: the paper's qualitative figures."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import model_options, parse_int_list, resolve_device, run_name, OutputPath


@click.group("figures")
def figures() -> None:
    """Qualitative figures of a checkpoint on a dataset: scene decompositions (Figures 16-18),
    latent traversals (Figures 19-21) and per-stage posteriors (Figure 15). PNGs under
    reports/figures/ by default."""


@figures.command("decompose")
@model_options
@click.option("--num", type=click.IntRange(min=1), default=8, show_default=True, help="Number of images (rows).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="Index of the first image.")
@click.option("--cell-px", type=click.IntRange(min=8), default=96, show_default=True, help="Pixels per grid cell.")
@click.option("--out", type=OutputPath("file"), default=None,
              help="PNG path [default: reports/figures/<run>_decompose.png].")
def decompose(ckpt, preset, data, split, refinement_steps, seed, device, num, start, cell_px, out) -> None:
    """Scene decompositions (Figures 16-18): per image, the image, reconstruction, masks (argmax
    slot colours) and each slot's masked component."""
    from emorl_eval.reports.figures import decompose_figure
    from emorl_eval.reports.inference import check_size, load_checkpoint, load_images

    device = resolve_device(device)
    model = load_checkpoint(ckpt, preset, device)
    images = load_images(data, num, start, split)
    check_size(model, images, data)
    out = out or Path("reports/figures") / f"{run_name(ckpt)}_decompose.png"
    path = decompose_figure(model, images, out, refinement_steps=refinement_steps, seed=seed,
                            cell_px=cell_px, device=device)
    click.echo(f"wrote {path}")


@figures.command("traverse")
@model_options
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Image whose slot is traversed.")
@click.option("--range-images", type=click.IntRange(min=2), default=100, show_default=True,
              help="Images over which each dimension's min and max are taken (appendix E.2: 100).")
@click.option("--slot", type=click.IntRange(min=1), default=None, help="Slot to vary, 1..K [default: the second-largest mask].")
@click.option("--dims", default=None, help="Comma-separated dimensions [default: the --num-dims widest-ranging].")
@click.option("--num-dims", type=click.IntRange(min=1), default=6, show_default=True, help="Rows when --dims is not given.")
@click.option("--steps", type=click.IntRange(min=2), default=7, show_default=True, help="Values from min to max per dimension.")
@click.option("--cell-px", type=click.IntRange(min=8), default=64, show_default=True, help="Pixels per grid cell.")
@click.option("--out", type=OutputPath("file"), default=None,
              help="PNG path [default: reports/figures/<run>_traverse.png].")
def traverse(ckpt, preset, data, split, refinement_steps, seed, device, index, range_images, slot, dims,
             num_dims, steps, cell_px, out) -> None:
    """Latent traversals (Figures 19-21): one slot's dimensions varied linearly between their
    min and max over --range-images images; each row is one dimension."""
    import torch

    from emorl_eval.errors import ConfigError
    from emorl_eval.reports.figures import traverse_figure
    from emorl_eval.reports.inference import check_size, load_checkpoint, load_images

    device = resolve_device(device)
    model = load_checkpoint(ckpt, preset, device)
    images = load_images(data, max(range_images, 1), 0, split)
    check_size(model, images, data)
    if not 0 <= index < len(images):
        raise ConfigError(f"--index {index}: only {len(images)} images loaded (see --range-images)")
    # the traversed image first, so that image_index=0 refers to it
    order = [index] + [i for i in range(len(images)) if i != index]
    out = out or Path("reports/figures") / f"{run_name(ckpt)}_traverse.png"
    path, info = traverse_figure(model, images[torch.tensor(order)], out, image_index=0,
                                 slot=None if slot is None else slot - 1,
                                 dims=parse_int_list(dims, "--dims"), num_dims=num_dims, steps=steps,
                                 refinement_steps=refinement_steps, seed=seed, cell_px=cell_px, device=device)
    click.echo(f"slot {info['slot'] + 1}, dims {info['dims']}")
    click.echo(f"wrote {path}")


@figures.command("stages")
@model_options
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Image to show.")
@click.option("--cell-px", type=click.IntRange(min=8), default=64, show_default=True, help="Pixels per grid cell.")
@click.option("--out", type=OutputPath("file"), default=None,
              help="PNG path [default: reports/figures/<run>_stages.png].")
def stages(ckpt, preset, data, split, refinement_steps, seed, device, index, cell_px, out) -> None:
    """Intermediate posteriors (Figure 15): per inference stage the reconstruction, masks and
    attention of one image (forward with decode_stages=True)."""
    from emorl_eval.reports.figures import stages_figure
    from emorl_eval.reports.inference import check_size, load_checkpoint, load_images

    device = resolve_device(device)
    model = load_checkpoint(ckpt, preset, device)
    image = load_images(data, 1, index, split)[0]
    check_size(model, image[None], data)
    out = out or Path("reports/figures") / f"{run_name(ckpt)}_stages.png"
    path, names = stages_figure(model, image, out, refinement_steps=refinement_steps, seed=seed,
                                cell_px=cell_px, device=device)
    click.echo(f"stages: {', '.join(names)}")
    click.echo(f"wrote {path}")

"""``emorl-eval data``: generate, inspect, preview and convert multi-object datasets."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import OutputPath
from emorl_eval.data.registry import available_datasets


def _parse_options(pairs: tuple[str, ...]) -> dict:
    """``("num_objects=4", "shapes=[1,2]")`` -> dict; values are parsed as JSON when possible."""
    import json

    from emorl_eval.errors import ConfigError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@click.group(name="data")
def data_group() -> None:
    """Built-in datasets (tetrominoes, multi_dsprites, clevr_like, textured_dsprites) and files
    in the EfficientMORL .h5 layout."""


@data_group.command("generate")
@click.option("--dataset", "name", required=True, type=click.Choice(available_datasets()),
              help="Built-in dataset to generate.")
@click.option("--num", type=click.IntRange(min=1), required=True, help="Number of images (train + test).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same file).")
@click.option("--out", type=OutputPath("file"), required=True, help="Output .h5 file.")
@click.option("--test-fraction", type=click.FloatRange(0.0, 1.0), default=0.1, show_default=True,
              help="Fraction of the images written to the 'test' group (the last ones); the rest go to 'train'.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Generator option, e.g. --option num_objects=4 (repeatable; values parsed as JSON).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes generating chunks of 250 images in parallel (the file is the same for any number).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (refused otherwise).")
def generate_cmd(name: str, num: int, seed: int, out: Path, test_fraction: float, options: tuple[str, ...],
                 workers: int, overwrite: bool) -> None:
    """Generate a built-in dataset into an EfficientMORL-layout .h5 file (atomic write).

    Example: emorl-eval data generate --dataset tetrominoes --num 1000 --seed 0 --out data/tetrominoes.h5

    \b
    Generator options (--option KEY=VALUE):
      tetrominoes        num_objects (3), shapes (codes 0..18, default all)
      multi_dsprites     min_objects (2), max_objects (5), size (64)
      textured_dsprites  min_objects (2), max_objects (5), size (64)
      clevr_like         size (96; 128 for EMORL's clevr-large), min_objects (3),
                         max_objects (6), supersample (1), jitter (true),
                         min_visible_pixels (25 at 96 px)
    """
    import time

    from emorl_eval.data.h5io import generate_h5, split_sizes
    from emorl_eval.errors import ConfigError

    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    t0 = time.perf_counter()
    generate_h5(out, name, num, seed, test_fraction=test_fraction, progress=True, workers=workers,
                **_parse_options(options))
    sizes = split_sizes(num, test_fraction)
    click.echo(f"wrote {out}: {name}, train {sizes['train']}, test {sizes['test']} images "
               f"(seed {seed}, {time.perf_counter() - t0:.1f} s)")


@data_group.command("show")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--num", type=click.IntRange(min=1), default=8, show_default=True, help="Samples (rows) to show.")
@click.option("--split", default="test", show_default=True, help="Group to read: train or test.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="Index of the first sample.")
@click.option("--out", type=OutputPath("file"), default=None,
              help="Output PNG [default: reports/figures/<FILE stem>.png].")
def show_cmd(file: Path, num: int, split: str, start: int, out: Path | None) -> None:
    """Write a PNG grid of FILE's samples: one row per sample, image and coloured GT mask."""
    from emorl_eval.data.preview import save_preview

    out = out or Path("reports/figures") / f"{file.stem}.png"
    save_preview(file, out, num=num, split=split, start=start)
    click.echo(f"wrote {out}")


@data_group.command("info")
@click.argument("file", type=click.Path(path_type=Path))
def info_cmd(file: Path) -> None:
    """Print FILE's dataset, splits, shapes, factor names/types and objects per image."""
    from emorl_eval.data.info import file_info

    info = file_info(file)
    kind = "official EfficientMORL file (schema inferred)" if info.official else "emorl-eval file"
    click.echo(f"{info.path}: {info.dataset_name}, {kind}")
    size = f"image size {info.image_size[0]}x{info.image_size[1]}"
    if info.clevr_crop:
        size += (f" (EMORL crop of the stored 240x320 frames; masks {info.mask_size[0]}x{info.mask_size[1]}, "
                 "use ObjectsDataset(..., clevr_image_size=128) for 128x128)")
    click.echo(f"{size}, max objects M={info.max_objects}")
    if "seed" in info.attrs and int(info.attrs["seed"]) >= 0:
        click.echo(f"generated with seed {info.attrs['seed']}, options {info.attrs.get('options', '{}')}")
    names = [f"{s.name} ({s.kind}{'' if s.num_classes is None else f', {s.num_classes} classes'})"
             for s in info.factor_specs]
    columns = list(names)
    if info.visibility_column is not None:
        columns.insert(info.visibility_column, "visibility (1 = the object is in the image)")
    stored = max((s.factor_shape[-1] for s in info.splits if s.factor_shape), default=0)
    columns += ["not read by emorl-eval"] * (stored - len(columns))
    click.echo("factors: " + (", ".join(names) or "none"))
    if columns:
        click.echo("factor array [M+1 entities, columns]: " + ", ".join(
            f"{i}: {name.split(' (')[0] if name in names else name}" for i, name in enumerate(columns)))
    for s in info.splits:
        per = ", ".join(f"{k}: {v}" for k, v in s.objects_per_image.items())
        click.echo(f"  {s.name:5s} {s.num_images:8d} images  imgs {s.image_shape}  masks {s.mask_shape}  "
                   f"factors {s.factor_shape}  visible objects per image {{{per}}}")


@data_group.command("convert")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, type=click.Choice(["tetrominoes", "multi_dsprites", "clevr"]),
              help="Which DeepMind multi_object_datasets layout SRC has.")
@click.option("--out", type=OutputPath("file"), required=True, help="Output .h5 file.")
@click.option("--num-test", type=click.IntRange(min=0), default=1000, show_default=True,
              help="The first N kept records go to the 'test' group, the rest to 'train'.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Read at most this many records.")
@click.option("--max-objects", type=click.IntRange(min=1), default=None,
              help="Keep only scenes with at most this many visible objects (6 on CLEVR gives CLEVR6).")
def convert_cmd(src: Path, dataset: str, out: Path, num_test: int, limit: int | None, max_objects: int | None) -> None:
    """Convert a DeepMind TFRecord file (GZIP or plain; no TensorFlow needed) into an
    EfficientMORL-layout .h5 file, streaming with a progress bar.

    Example: emorl-eval data convert tetrominoes_train.tfrecords --dataset tetrominoes --out data/tetrominoes_dm.h5
    """
    from emorl_eval.data.convert import convert_tfrecord

    res = convert_tfrecord(src, dataset, out, num_test=num_test, limit=limit, max_objects=max_objects, progress=True)
    kept = ", ".join(f"{k} {v}" for k, v in res.rows.items())
    click.echo(f"wrote {res.path}: {dataset}, {res.records_read} records read, {res.skipped} skipped, {kept}")

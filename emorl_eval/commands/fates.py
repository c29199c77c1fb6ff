"""``emorl-eval fates``: where each checkpoint's FG-ARI is lost (split, background slots, merged objects)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from emorl_eval.commands._common import CKPT_HELP, CheckpointPath, OutputPath, flags_option, model_labels, resolve_device
from emorl_eval.devices import DEVICE_HELP, check_device_option


@click.command("fates")
@click.option("--ckpt", "ckpts", required=True, multiple=True, type=CheckpointPath(),
              help=CKPT_HELP + " Repeat for each model.")
@click.option("--label", "labels", multiple=True,
              help="Name of each model in the table, in --ckpt order [default: zoo:NAME or the run name].")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset file (.h5, EfficientMORL layout).")
@click.option("--split", default="test", show_default=True, help="Split of the data file.")
@click.option("--num", default=320, show_default=True, type=click.IntRange(min=1),
              help="Images: the first ones of the split (the same for every model).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Images per forward pass.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampling noise.")
@click.option("--preset", default=None, help="Preset for official EfficientMORL checkpoints (they store no config).")
@flags_option
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP, callback=check_device_option)
@click.option("--out", type=OutputPath("file"), default=Path("reports/fates/fates"), show_default=True,
              help="Output prefix: PREFIX.csv (one row per model), PREFIX_per_object.csv and PREFIX.md (table and command).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def fates(ckpts, labels, data, split, num, batch_size, seed, preset, device, out, progress) -> None:
    """Where each object's pixels went, for every --ckpt on the same images: the mean share of an
    object's pixels in its majority slot (the slot holding most of them), in background slots
    (slots that are no object's majority slot) and in other objects' majority slots; the fraction
    of objects split (under 80 % in one slot) and merged (their majority slot is another object's
    too); beside FG-ARI on the same forward passes (`emorl-eval evaluate`'s, for the same seed and
    batch size). Only object pixels count, so models that keep the background in one slot and
    models that spread it over all slots read alike.

    Example (one line): emorl-eval fates --ckpt zoo:genesis-tetrominoes-s1 --ckpt zoo:slot-attention-tetrominoes-s1 --data tetro.h5
    """
    import pandas as pd

    from emorl_eval.evaluate import load_inputs
    from emorl_eval.fates_table import SUMMARY_LABELS, object_fates_table, summarize_objects, summary_markdown

    specs, names = model_labels(ckpts, labels)
    device = resolve_device(device)
    summaries, tables = {}, []
    for name, spec, ckpt in zip(names, specs, ckpts):
        model, dataset, metadata = load_inputs(ckpt, data, split=split, preset=preset, device=device)
        identity = {"label": name, "checkpoint": spec, "checkpoint_sha256": metadata["checkpoint_sha256"],
                    "checkpoint_step": metadata["checkpoint_step"], "model": model.model_name}
        objects, ari_fg = object_fates_table(model, dataset, num=num, batch_size=batch_size, seed=seed,
                                             device=device, progress=progress, metadata=identity)
        summaries[name] = {**identity, **summarize_objects(objects, ari_fg)}
        tables.append(objects)
    rows = pd.DataFrame.from_dict(summaries, orient="index")
    out.parent.mkdir(parents=True, exist_ok=True)
    csv, per_object, md = (out.with_name(out.name + suffix) for suffix in (".csv", "_per_object.csv", ".md"))
    rows.to_csv(csv, index=False)
    pd.concat(tables, ignore_index=True).to_csv(per_object, index=False)
    table = summary_markdown(rows[list(SUMMARY_LABELS)])
    argv = ["emorl-eval", "fates", *[a for s in specs for a in ("--ckpt", s)],
            *[a for label in labels for a in ("--label", label)], "--data", str(data), "--split", split,
            "--num", str(num), "--batch-size", str(batch_size), "--seed", str(seed), "--out", str(out)]
    if preset:
        argv += ["--preset", preset]
    command = shlex.join(argv)
    md.write_text(f"# Object fates\n\n{table}\nData: `{data}` ({split}, first {num} images), seed {seed}.\n\n"
                  f"```bash\n{command}\n```\n")
    click.echo(table, nl=False)
    click.echo(f"wrote {csv}, {per_object}, {md}")

"""``emorl-eval dci``: DCI on IoU-Hungarian-matched slots (appendix E.2, Table 3)."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import CheckpointPath, flags_option, parse_int_list, resolve_device, run_name, OutputPath
from emorl_eval.devices import DEVICE_HELP, check_device_option


@click.command("dci")
@flags_option
@click.option("--ckpt", "ckpts", required=True, multiple=True, type=CheckpointPath(),
              help="Checkpoint (repeatable: several runs are aggregated into mean ± std). Ours, zoo:NAME, "
                   "or an official EfficientMORL one with --preset.")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Dataset file (.h5, EfficientMORL layout) with per-object factors.")
@click.option("--split", default="test", show_default=True, help="Split of the data file.")
@click.option("--num", default=320, show_default=True, type=click.IntRange(min=1),
              help="Number of images (the first ones of the split).")
@click.option("--protocol", type=click.Choice(["dlib", "regression"]), default="dlib", show_default=True,
              help="Continuous factors: dlib = 20-bin histogram discretisation + GBT classifier "
                   "(informativeness = accuracy); regression = GBT regressor (informativeness = R^2).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the forward-pass noise, the 50/50 split and the trees.")
@click.option("--seeds", default=None, help="Comma-separated seeds, e.g. 1,2,3 (overrides --seed); "
                                            "runs are aggregated into mean ± std.")
@click.option("--active-only", is_flag=True,
              help="Fit on the active latent dims only (variance of the matched codes > --threshold).")
@click.option("--threshold", default=0.01, show_default=True, type=click.FloatRange(min=0.0),
              help="Activeness threshold on the variance of each code dim across the matched pairs.")
@click.option("--n-jobs", default=-1, show_default=True, type=int,
              help="Parallel per-factor tree fits (joblib threads; -1 = all cores).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Images per forward pass.")
@click.option("--preset", default=None, help="Preset for official EfficientMORL checkpoints (they store no config).")
@click.option("--refinement-steps", "-I", "refinement_steps", default=None, type=click.IntRange(min=0),
              help="Test-time refinement steps I [default: the model's config; ignored without refinement].")
@click.option("--masks-from", type=click.Choice(["output", "latents"]), default="output", show_default=True,
              help="Masks matched to objects: the model's output masks, or the codes decoded with "
                   "model.decode (the reference's masks of the posterior means).")
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP, callback=check_device_option)
@click.option("--out", default=None, type=OutputPath("dir"),
              help="Output folder [default: reports/dci/<run>].")
@click.option("--figure", default=None, type=OutputPath("file"),
              help="Heatmap PNG [default: reports/figures/dci_importance_<run>.png].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def dci(ckpts: tuple[Path, ...], data: Path, split: str, num: int, protocol: str, seed: int, seeds: str | None,
        active_only: bool, threshold: float, n_jobs: int, batch_size: int, preset: str | None,
        refinement_steps: int | None, masks_from: str, device: str, out: Path | None, figure: Path | None, progress: bool) -> None:
    """DCI (disentanglement, completeness, informativeness) of slot codes on matched objects.

    For each of the first NUM test images: the model's K slot codes (EfficientMORL: final
    posterior means) and K masks; visible ground-truth objects matched to slots by the Hungarian
    method on IoU; the (factors, code) pairs of all images concatenated, split 50/50 (seeded);
    one gradient-boosted-tree predictor per factor; D and C from the importance matrix with
    disentanglement-lib's functions (appendix E.2). Several --ckpt and/or --seeds give one row
    per (checkpoint, seed) and their mean ± std (Table 3).

    Writes OUT/dci.csv (per run: D, C, informativeness train/test, per-factor informativeness,
    mean matched IoU, number of pairs, number of active dims), OUT/dci_summary.csv,
    OUT/dci.md, OUT/importance.csv (codes x factors per run) and the importance heatmap
    (active dims only) under reports/figures/.

    Example: emorl-eval dci --ckpt runs/clevr_s0/checkpoint_last.pt --data data/clevr.h5 --seeds 0,1,2
    """
    from emorl_eval.dci.pipeline import run_dci
    from emorl_eval.dci.report import markdown, write_dci

    seed_list = parse_int_list(seeds, "--seeds") or [seed]
    name = run_name(ckpts[0]) + (f"_and_{len(ckpts) - 1}_more" if len(ckpts) > 1 else "")
    out = out if out is not None else Path("reports/dci") / name
    figure = figure if figure is not None else Path("reports/figures") / f"dci_importance_{name}.png"
    result = run_dci(list(ckpts), data, seeds=seed_list, num=num, protocol=protocol, active_only=active_only,
                     threshold=threshold, split=split, preset=preset, batch_size=batch_size,
                     refinement_steps=refinement_steps, n_jobs=n_jobs, device=resolve_device(device),
                     progress=progress, masks_from=masks_from)
    paths = write_dci(result, out, figure)
    click.echo(markdown(result), nl=False)
    for cell in result.runs.get("warnings", []):
        for warning in filter(None, str(cell).split("; ")):
            click.echo(f"warning: {warning}", err=True)
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))

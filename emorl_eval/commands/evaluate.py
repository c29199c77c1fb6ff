"""``emorl-eval evaluate``: ARI, MSE, KL, mSC, mBO per image of a checkpoint on a dataset split."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import CKPT_HELP, CheckpointPath, OutputPath, flags_option
from emorl_eval.devices import DEVICE_HELP, check_device_option


def common_options(fn):
    """Options shared by ``evaluate`` and ``refine-sweep``."""
    options = [
        click.option("--ckpt", required=True, type=CheckpointPath(),
                     help=CKPT_HELP + " A run folder means its checkpoint_last.pt, else its newest checkpoint*.pt."),
        click.option("--data", required=True, type=click.Path(path_type=Path),
                     help="Dataset file in the EfficientMORL .h5 layout (e.g. from `emorl-eval data generate`)."),
        click.option("--split", default="test", show_default=True, help="Group of the .h5 file to evaluate on."),
        click.option("--num", default=320, show_default=True, type=click.IntRange(min=1),
                     help="Number of images: the first ones of the split (all of them if it holds fewer)."),
        click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
                     help="Images per forward pass."),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampling noise."),
        click.option("--preset", default=None,
                     help="Model preset for official checkpoints without a config (e.g. tetrominoes, clevr6)."),
        flags_option,
        click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP, callback=check_device_option),
        click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command("evaluate")
@common_options
@click.option("--refinement-steps", "-I", "refinement_steps", default=None, type=click.IntRange(min=0),
              help="Test-time refinement steps I [default: the model's configured value]; "
                   "ignored by models without refinement.")
@click.option("--out", default=None, type=OutputPath("dir"),
              help="Output folder [default: eval/ beside the checkpoint, where ablation-table looks].")
def evaluate(ckpt: Path, data: Path, split: str, num: int, batch_size: int, seed: int, preset: str | None,
             device: str, progress: bool, refinement_steps: int | None, out: Path | None) -> None:
    """Evaluate a checkpoint on the first NUM images of a dataset split.

    Writes OUT/per_image.csv (one row per image: model, preset, dataset, split, checkpoint,
    checkpoint_sha256, checkpoint_step, eval_seed, refinement_steps, likelihood, sigma, image_index,
    ari_fg, ari_all, mse, kl, msc, mbo, sc, matched_iou, nll, slots_used), OUT/summary.csv (metric,
    label, mean, std, n and the run's identity) and OUT/summary.md, and prints the summary table.

    Metrics: ARI on argmax segmentations, foreground only (ari_fg) and all pixels (ari_all); MSE
    per pixel-channel in [0, 1] units; KL and NLL per image in nats (KL n/a, an empty cell, for a
    model without a KL term such as Slot Attention; the NLL is of the likelihood and sigma named in
    its columns and label, so NLLs of different likelihoods do not compare); mSC / SC (mean and
    pixel-weighted segmentation covering), mBO (mean best overlap) and matched IoU (Hungarian) over
    the visible foreground objects. The same command gives the same numbers.

    Example: emorl-eval evaluate --ckpt runs/tetro_s0 --data data/tetrominoes.h5 (a run folder: its
    checkpoint_last.pt; results in runs/tetro_s0/eval/)
    """
    from emorl_eval.evaluate import (
        default_out_dir,
        evaluate_model,
        load_inputs,
        prepare_out_dir,
        run_header,
        summarize,
        summary_markdown,
        write_evaluation,
    )

    model, dataset, metadata = load_inputs(ckpt, data, split=split, preset=preset, device=device)
    out = prepare_out_dir(out if out is not None else default_out_dir(ckpt))
    if refinement_steps is not None and not model.supports_refinement:
        click.echo(f"note: {model.model_name} has no test-time refinement; --refinement-steps ignored", err=True)
    if num > len(dataset):
        click.echo(f"note: split {split!r} holds {len(dataset)} images (< --num {num}); evaluating all", err=True)
    df = evaluate_model(model, dataset, num=num, batch_size=batch_size, refinement_steps=refinement_steps,
                        seed=seed, device=device, progress=progress, metadata=metadata)
    from emorl_eval.diagnostics import evaluation_warnings

    warnings = evaluation_warnings(df)
    paths = write_evaluation(df, out, warnings)
    click.echo(summary_markdown(summarize(df), run_header(df)), nl=False)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))

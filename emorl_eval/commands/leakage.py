"""``emorl-eval leakage``: fraction of a slot traversal's image change outside the slot's mask."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import model_options, resolve_device, run_name, OutputPath


@click.command("leakage")
@model_options
@click.option("--num", type=click.IntRange(min=1), default=8, show_default=True, help="Images measured.")
@click.option("--range-images", type=click.IntRange(min=2), default=100, show_default=True,
              help="Images over which each dimension's min and max are taken.")
@click.option("--dims-per-slot", type=click.IntRange(min=1), default=4, show_default=True,
              help="Widest-ranging dimensions varied per slot (0 = all).")
@click.option("--steps", type=click.IntRange(min=2), default=5, show_default=True, help="Values from min to max per dimension.")
@click.option("--min-change", type=float, default=0.01, show_default=True,
              help="A (image, slot, dim) whose mean absolute change is below this fraction of the largest "
                   "one counts as inactive and is excluded.")
@click.option("--out", type=OutputPath("file"), default=None,
              help="Output prefix [default: reports/leakage/<run>]: PREFIX.csv (summary), "
                   "PREFIX_per_dim.csv, PREFIX.md and PREFIX.png (traversal rows).")
def leakage(ckpt, preset, data, split, refinement_steps, seed, device, num, range_images, dims_per_slot,
            steps, min_change, out) -> None:
    """Appendix B / Figure 11 as a number: vary one latent dimension of one slot (min to max over
    --range-images images) and measure the fraction of the image change that falls outside that
    slot's own mask (before or after the change), averaged over images, slots and active
    dimensions. 0 = slots are independent; near (K-1)/K = changes spread over the scene. The
    exact formula is in emorl_eval/reports/leakage.py."""
    from emorl_eval.models.checkpoints import file_sha256
    from emorl_eval.reports.inference import check_size, load_checkpoint, load_images
    from emorl_eval.reports.leakage import leakage_figure, measure_leakage
    from emorl_eval.reports.tables import to_markdown

    device = resolve_device(device)
    model = load_checkpoint(ckpt, preset, device)
    ref = load_images(data, max(range_images, num), 0, split)
    check_size(model, ref, data)
    images = ref[:num]
    result = measure_leakage(model, images, range_images=ref, dims_per_slot=dims_per_slot, steps=steps,
                             min_change=min_change, refinement_steps=refinement_steps, seed=seed,
                             device=device, progress=True)
    prefix = Path(out) if out else Path("reports/leakage") / run_name(ckpt)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    summary.insert(0, "checkpoint_sha256", file_sha256(ckpt))
    summary.insert(0, "checkpoint", str(ckpt))
    summary.to_csv(prefix.with_name(prefix.name + ".csv"), index=False)
    result.per_triple.to_csv(prefix.with_name(prefix.name + "_per_dim.csv"), index=False)
    shown = summary.drop(columns=["checkpoint", "checkpoint_sha256"]).round(4)
    prefix.with_name(prefix.name + ".md").write_text(
        f"# Leakage of {ckpt}\n\nFraction of a one-slot traversal's image change outside that slot's "
        "mask (emorl_eval/reports/leakage.py).\n\n" + to_markdown(shown))
    fig = leakage_figure(model, images[0], prefix.with_name(prefix.name + ".png"), bounds=result.bounds,
                         steps=steps, candidate_dims=dims_per_slot, refinement_steps=refinement_steps,
                         seed=seed, device=device)
    click.echo(to_markdown(shown), nl=False)
    click.echo(f"wrote {prefix}.csv, {prefix}_per_dim.csv, {prefix}.md, {fig}")

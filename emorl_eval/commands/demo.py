"""``emorl-eval demo``: the whole pipeline on built-in data (the README's main job)."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import OutputPath


def _invoke(argv: list[str]) -> int:
    """Run one ``emorl-eval`` command in this process; its exit status (user errors -> 2)."""
    from emorl_eval.cli import cli
    from emorl_eval.errors import EmorlEvalError

    try:
        cli.main(args=argv, prog_name="emorl-eval", standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except EmorlEvalError as err:
        click.echo(f"error: {err}", err=True)
        return 2
    return 0


@click.command("demo")
@click.option("--out", type=OutputPath("dir"), default=Path("."), show_default=True,
              help="Root folder: data/, runs/ and reports/ are written below it (default: here).")
@click.option("--num-images", type=click.IntRange(min=50), default=3200, show_default=True,
              help="Tetrominoes images to generate (10% form the held-out test split).")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Steps of the short training run (the learned weights come from the zoo).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Batch size of the short training run.")
@click.option("--eval-images", type=click.IntRange(min=2), default=320, show_default=True,
              help="Held-out test images for evaluate, refine-sweep and DCI (at most the test split).")
@click.option("--seed", type=int, default=None,
              help="Data seed [100: scenes the zoo models never trained on (they used seed 0)].")
def demo(out: Path, num_images: int, steps: int, batch_size: int, eval_images: int, seed: int | None) -> None:
    """Run the toolkit end to end on built-in Tetrominoes with the zoo's learned models.

    Generates held-out data, trains EfficientMORL briefly (the training path), evaluates that
    run and every zoo Tetrominoes model (EfficientMORL seeds, Slot Attention, GENESIS), sweeps
    refinement steps, scores DCI over the EfficientMORL seeds, checks the symmetries of the
    learned weights, measures leakage (EfficientMORL vs GENESIS), draws the decomposition, and
    writes the ablation table and OUT/reports/README.md; each step is its own emorl-eval command,
    run inside OUT. Ends by printing EfficientMORL's FG-ARI. Re-running resumes the short run.
    """
    from emorl_eval.demo import DEMO_DATA_SEED, run_demo, zoo_plan

    plan = zoo_plan(out=out, num_images=num_images, steps=steps, batch_size=batch_size,
                    eval_images=min(eval_images, max(2, num_images // 10)),
                    seed=DEMO_DATA_SEED if seed is None else seed)
    if not plan.emorl:
        click.echo("note: the zoo holds no learned EfficientMORL Tetrominoes model yet (emorl-eval zoo list); "
                   "the reports below use the short run, whose numbers show the pipeline, not a learned model",
                   err=True)
    status = run_demo(plan, _invoke, click.echo)
    if status != 0:
        raise SystemExit(status)

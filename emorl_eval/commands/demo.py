"""``emorl-eval demo``: the whole pipeline on built-in data (the README's main job)."""

from __future__ import annotations

from pathlib import Path

import click


def _invoke(argv: list[str]) -> int:
    """Run one ``emorl-eval`` command in this process; its exit status (user errors -> 2)."""
    from cli import cli
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
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Root folder: data/, runs/ and reports/ are written below it (default: here).")
@click.option("--num-images", type=click.IntRange(min=50), default=1000, show_default=True,
              help="Tetrominoes images to generate (10% form the test split).")
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Training steps (the paper trains 200K on a GPU; 100 show the pipeline on a CPU).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--eval-images", type=click.IntRange(min=2), default=100, show_default=True,
              help="Test images for evaluate, refine-sweep and DCI (at most the test split).")
@click.option("--seed", type=int, default=0, show_default=True, help="Data seed; training uses seed + 1.")
def demo(out: Path, num_images: int, steps: int, batch_size: int, eval_images: int, seed: int) -> None:
    """Run the toolkit end to end on built-in Tetrominoes: data generate, train EfficientMORL,
    evaluate, refine-sweep, dci, symmetry and report, each through its own emorl-eval command.
    Re-running resumes training from the run's last checkpoint. Ends with OUT/reports/README.md."""
    from emorl_eval.demo import DemoPlan, run_demo

    plan = DemoPlan(out=out, num_images=num_images, steps=steps, batch_size=batch_size,
                    eval_images=min(eval_images, max(2, num_images // 10)), seed=seed)
    status = run_demo(plan, _invoke, click.echo)
    if status != 0:
        raise SystemExit(status)

"""``emorl-eval symmetry``: measure a model's slot (in/equi)variance and input-order invariance."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import CheckpointPath, flags_option, parse_overrides, OutputPath


def _parse_seeds(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if not seeds:
        raise click.BadParameter("give at least one seed")
    return seeds


EXIT_RULE = """\b
Exit status:
  0  every measured property holds;
  1  any property is violated: a claimed one (a symmetry bug), or one the model's
     design does not claim (an ordered model such as GENESIS shows
     "not claimed / violated" and exits 1 too: the asymmetry is measured, not hidden);
  2  bad input (missing checkpoint, unknown model or preset, ...)."""


@click.command(
    "symmetry",
    epilog=EXIT_RULE,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@flags_option
@click.option("--ckpt", type=CheckpointPath(exists=True), help="Checkpoint to check: ours, zoo:NAME, an official EfficientMORL one or an official GENESIS / GENESIS-v2 one (flags.json beside it or --flags).")
@click.option("--model", "model_name", help="Check a fresh random init of this model instead of a checkpoint: a built-in name, an installed plug-in's entry point or package.module:Class.")
@click.option("--preset", help="Preset for --model, or the preset an official checkpoint needs.")
@click.option("--set", "overrides", multiple=True, callback=parse_overrides, metavar="KEY=VALUE",
              help="Config override for --model (JSON value), e.g. --set num_slots=3 --set 'image_size=[32,32]'. Repeatable.")
@click.option("--seeds", default="0,1,2", show_default=True, callback=_parse_seeds,
              help="Comma-separated seeds; each draws fresh probe inputs and permutations (the first also seeds a random init).")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1), help="Batch size B of the probe inputs.")
@click.option("--num-perms", default=3, show_default=True, type=click.IntRange(min=1), help="Random non-identity permutations per seed and component.")
@click.option("--generic-weights", is_flag=True,
              help="Redraw every parameter (matrices N(0, 1/fan_in), vectors +N(0, 0.01)) before checking, seeded by the "
                   "first seed: the properties are structural, and tiny-gain random inits (EfficientMORL's) make the slots "
                   "nearly identical, which leaves the checks uninformative.")
@click.option("--float64", "use_float64", is_flag=True, help="Strict check: cast model and inputs to float64 (tolerance rtol=1e-10 instead of 1e-4).")
@click.option("--out", "out_dir", default="reports/tables", show_default=True, type=OutputPath("dir"),
              help="Folder for symmetry_<model>[_<preset>]_<dtype>.csv and .md.")
@click.pass_context
def symmetry(ctx: click.Context, ckpt: Path | None, model_name: str | None, preset: str | None, overrides: dict,
             seeds: list[int], batch_size: int, num_perms: int, generic_weights: bool, use_float64: bool,
             out_dir: Path) -> None:
    """Check the symmetry properties of appendix A on one model.

    For every component the model exposes (posterior layers, prior, refinement, full inference,
    decoder, loss) it permutes the K slots, noise included, and measures the deviation from
    slot equivariance f(Px) = P f(x) or slot invariance f(Px) = f(x); for set-attention models it
    also permutes the N = HW input features (input-order invariance, A.2). Each output is one row:
    max-abs and relative deviation (the worst of seeds x permutations), the tolerance
    (float32: 1e-4 x the output's magnitude + 1e-7; --float64: 1e-10 x magnitude + 1e-13) and a
    verdict: "holds", "violated", or "not claimed / holds|violated" for properties the model's
    design does not claim. Equivariant outputs also get a sensitivity (how far the permutation
    moves the output); below 1e-3 the slots are nearly identical and the verdict is marked
    "(uninformative)" (use --generic-weights). Prints the table and writes CSV and Markdown
    under --out.

    \b
    Examples:
      emorl-eval symmetry --ckpt runs/tetro/checkpoint_last.pt
      emorl-eval symmetry --model emorl --preset tetrominoes --generic-weights --float64
    """
    import torch

    from emorl_eval import models
    from emorl_eval import symmetry as sym
    from emorl_eval.errors import ConfigError

    from emorl_eval.commands._common import run_name
    from emorl_eval.evaluate import prepare_out_dir
    from emorl_eval.models.checkpoints import file_sha256

    if (ckpt is None) == (model_name is None):
        raise ConfigError("give exactly one of --ckpt RUN.pt or --model NAME")
    prepare_out_dir(out_dir)  # an unwritable --out fails now, not after the checks
    source = {"checkpoint": "", "checkpoint_sha256": ""}
    if ckpt is not None:
        if overrides:
            raise ConfigError("--set applies to --model only, not to --ckpt")
        model = models.load(ckpt, preset=preset)
        label = getattr(model, "model_name", type(model).__name__)
        # named after the run folder (runs/NAME/checkpoint_last.pt -> NAME), so runs never collide
        stem = f"{label}_{run_name(ckpt)}"
        source = {"checkpoint": str(ckpt), "checkpoint_sha256": file_sha256(ckpt)}
    else:
        torch.manual_seed(seeds[0])
        model = models.build(model_name, preset=preset, **overrides)
        label = getattr(model, "model_name", model_name)
        stem = f"{label}_{preset}" if preset else label

    if generic_weights:
        model = sym.generic_weights(model, seed=seeds[0])
        stem += "_generic"
    dtype = torch.float64 if use_float64 else torch.float32
    table = sym.check_model(model, batch_size=batch_size, seeds=seeds, dtype=dtype, num_perms=num_perms,
                              progress=True)
    dname = "float64" if use_float64 else "float32"
    click.echo(sym.format_table(table))
    for key, value in source.items():
        table[key] = value
    from emorl_eval.diagnostics import joined, symmetry_warnings

    warnings = symmetry_warnings(table)
    table["warnings"] = joined(warnings)
    csv_path, md_path = sym.write_report(
        table, out_dir, f"symmetry_{stem}_{dname}", title=f"Symmetry checks: {stem} ({dname}, seeds {seeds})"
        + (f"\n\nCheckpoint `{source['checkpoint']}`, sha256 `{source['checkpoint_sha256'][:16]}...`" if ckpt else "")
    )
    status = sym.exit_status(table)
    n_bad = int((~table["passed"]).sum())
    click.echo(f"wrote {csv_path} and {md_path}")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo("all properties hold" if status == 0 else f"{n_bad} output(s) violated: exit status 1")
    ctx.exit(status)

"""``emorl-eval check-model``: the interface conformance suite on a (plug-in) model."""

from __future__ import annotations

from pathlib import Path

import click

from emorl_eval.commands._common import CKPT_HELP, CheckpointPath, flags_option, parse_overrides, OutputPath

EXIT_RULE = """\b
Exit status:
  0  every check passes (skip: an optional part the model does not provide;
     info: a property the model's design does not claim, measured and shown);
  1  at least one check FAILs: fix the model before trusting any number it gets;
  2  bad input (unknown model, plug-in that cannot be imported, missing checkpoint, ...)."""


@click.command("check-model", epilog=EXIT_RULE, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec", required=False)
@click.option("--ckpt", type=CheckpointPath(exists=True), help=f"Check a trained model instead of a fresh one. {CKPT_HELP}")
@flags_option
@click.option("--preset", help="Preset to build SPEC with (or the preset an official EfficientMORL checkpoint needs).")
@click.option("--set", "overrides", multiple=True, callback=parse_overrides, metavar="KEY=VALUE",
              help="Config override for SPEC (JSON value), e.g. --set num_slots=3. Repeatable.")
@click.option("--batch-size", default=2, show_default=True, type=click.IntRange(min=1), help="Batch size B of the random test images.")
@click.option("--seed", default=0, show_default=True, help="Seeds the weights of a fresh model, the test images and every generator.")
@click.option("--no-symmetry", is_flag=True, help="Skip the symmetry probes (the slowest part for deep models).")
@click.option("--generic-weights/--own-weights", "generic_weights", default=None,
              help="Run the symmetry probes on redrawn weights (the properties are structural; a fresh init often makes "
                   "the slots nearly identical, which hides violations) or on the model's own. "
                   "[default: generic for SPEC, own for --ckpt]")
@click.option("--out", "out_dir", type=OutputPath("dir"), default=None,
              help="Also write check_model_<name>.csv and .md to this folder.")
@click.pass_context
def check_model(ctx: click.Context, spec: str | None, ckpt: Path | None, preset: str | None, overrides: dict,
                batch_size: int, seed: int, no_symmetry: bool, generic_weights: bool | None, out_dir: Path | None) -> None:
    """Check that model SPEC keeps the interface contract every metric relies on.

    SPEC is a built-in model name (emorl, genesis, ...), the entry point of an installed plug-in,
    or package.module:Class (a subclass of emorl_eval.models.interface.ObjectCentricModel,
    importable from the installed packages or the current directory). The suite builds it
    (--preset, --set) or loads --ckpt, then checks on random images: forward, output shapes,
    finite outputs, masks >= 0 summing to 1 over the slots, recon = sum of masks x components,
    finite training loss and gradients, determinism under a fixed generator, checkpoint round
    trip, decode and sample_prior shapes, and the model's symmetry probes (on redrawn weights for
    SPEC, see --generic-weights). It prints a pass / FAIL / skip / info table with the reason for
    every failure; the checkpoint check's row says which plug-in spec checkpoints record.

    \b
    Examples:
      emorl-eval check-model emorl --preset tetrominoes_cpu
      emorl-eval check-model my_model.kmeans:SoftKMeans          # ad hoc plug-in
      emorl-eval check-model kmeans                              # after pip install -e examples/my_model
      emorl-eval check-model --ckpt runs/tetro/checkpoint_last.pt
    """
    import torch

    from emorl_eval import conformance, models
    from emorl_eval.commands._common import run_name
    from emorl_eval.errors import ConfigError
    from emorl_eval.evaluate import prepare_out_dir

    if (spec is None) == (ckpt is None):
        raise ConfigError("give exactly one of SPEC (a model name or package.module:Class) or --ckpt RUN.pt")
    if out_dir is not None:
        prepare_out_dir(out_dir)
    if ckpt is not None:
        if overrides:
            raise ConfigError("--set applies to SPEC only, not to --ckpt")
        model = models.load(ckpt, preset=preset)
        label = f"{model.model_name}_{run_name(ckpt)}"
        what = f"checkpoint {ckpt}"
    else:
        torch.manual_seed(seed)
        model = models.build(spec, preset=preset, **overrides)
        label = model.model_name + (f"_{preset}" if preset else "")
        what = f"{spec} ({type(model).__module__}.{type(model).__qualname__}, preset {getattr(model, 'preset', None)})"
    click.echo(f"checking {what}: K={model.num_slots}, D={model.latent_dim}, image {list(model.image_size)}", err=True)
    if generic_weights is None:
        generic_weights = ckpt is None
    rows = conformance.run_checks(model, batch_size=batch_size, seed=seed, symmetry=not no_symmetry,
                                  generic_weights=generic_weights,
                                  progress=lambda name: click.echo(f"  {name} ...", err=True))
    table = conformance.to_frame(rows)
    click.echo(conformance.format_table(rows))
    if out_dir is not None:
        stem = out_dir / f"check_model_{label}"
        table.to_csv(stem.with_suffix(".csv"), index=False)
        markdown = [f"# Conformance of {what}", "", "| check | status | detail |", "|---|---|---|"]
        markdown += [f"| {r.check} | {r.status} | {r.detail.replace('|', '/')} |" for r in rows]
        stem.with_suffix(".md").write_text("\n".join(markdown) + "\n")
        click.echo(f"wrote {stem.with_suffix('.csv')} and {stem.with_suffix('.md')}")
    failures = conformance.failed(rows)
    if failures:
        click.echo(f"{len(failures)} check(s) FAILED: {', '.join(r.check for r in failures)}")
        ctx.exit(1)
    counts = {status: sum(r.status == status for r in rows) for status in (conformance.SKIP, conformance.INFO)}
    extra = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    click.echo(f"all {sum(r.status == conformance.PASS for r in rows)} checks pass" + (f" ({extra})" if extra else ""))

"""The ``emorl-eval`` command line.

Each verb lives in its own module under ``emorl_eval/commands/`` and is imported only when it is
invoked, so ``emorl-eval --help`` stays fast (no torch import). To add a verb, write
``emorl_eval/commands/<verb>.py`` exposing a click command and add one line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys

import click

# verb -> (module, attribute, one-line help shown by `emorl-eval --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ablation-table": ("emorl_eval.commands.ablation_table", "ablation_table", "Appendix Table 2 (ARI, MSE, KL mean ± std across seeds) over run folders."),
    "timing": ("emorl_eval.commands.timing", "timing", "Parameter counts and forward+backward time per step (appendix E.3, Figure 22)."),
    "figures": ("emorl_eval.commands.figures", "figures", "Decompositions, latent traversals and per-stage posteriors (Figures 15-21)."),
    "leakage": ("emorl_eval.commands.leakage", "leakage", "Fraction of a one-slot latent traversal's change outside the slot's mask."),
    "leakage-compare": ("emorl_eval.commands.leakage_compare", "leakage_compare", "Leakage of several models on the same images and settings: one table, one figure."),
    "report": ("emorl_eval.commands.report", "report", "Run every report that applies to a folder of runs; write reports/README.md."),
    "evaluate": ("emorl_eval.commands.evaluate", "evaluate", "ARI (fg/all), MSE, KL, mSC, mBO per image of a checkpoint on a dataset split."),
    "fates": ("emorl_eval.commands.fates", "fates", "Where FG-ARI is lost: objects split, lost to background slots, merged; per model."),
    "refine-sweep": ("emorl_eval.commands.refine_sweep", "refine_sweep", "Metrics against test-time refinement steps I (appendix D, Figure 14): CSV and figure."),
    "demo": ("emorl_eval.commands.demo", "demo", "Run the whole pipeline on built-in Tetrominoes (the README's main job)."),
    "data": ("emorl_eval.commands.data", "data_group", "Generate, inspect, preview and convert datasets."),
    "check-model": ("emorl_eval.commands.check_model", "check_model", "Conformance suite on a model or plug-in: shapes, masks, gradients, round trip, symmetry."),
    "dci": ("emorl_eval.commands.dci", "dci", "DCI on IoU-Hungarian-matched slots (appendix E.2, Table 3): scores, importance heatmap."),
    "symmetry": ("emorl_eval.commands.symmetry", "symmetry", "Check slot permutation equivariance/invariance and input-order invariance (appendix A)."),
    "train": ("emorl_eval.commands.train", "train_command", "Train a model (GECO, curriculum, resume, DDP via torchrun)."),
    "zoo": ("emorl_eval.commands.zoo", "zoo_group", "Trained models shipped with emorl-eval (--ckpt zoo:NAME): list, show, add."),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="emorl-eval", prog_name="emorl-eval")
def cli() -> None:
    """emorl-eval: train, load and evaluate object-centric models (EfficientMORL, GENESIS,
    Slot Attention, IODINE): ARI/MSE/KL, DCI on matched slots, symmetry checks, tables, figures."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns user errors into one line on stderr."""
    from emorl_eval.errors import EmorlEvalError

    try:
        # with standalone_mode=False click returns a command's ctx.exit(code) instead of exiting
        status = cli.main(args=argv, prog_name="emorl-eval", standalone_mode=False)
    except EmorlEvalError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as err:
        # one line, like every other user error: what is wrong and where the help is
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        click.echo(f"error: {err.format_message()}{where}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as err:
        # a file-system fault no command foresaw (disk full, a path removed mid-run, ...): one line
        # naming the path, like every other user-facing error; output options are checked up front
        where = f"{err.filename}: " if err.filename else ""
        click.echo(f"error: {where}{err.strerror or err}", err=True)
        sys.exit(2)
    if isinstance(status, int) and status != 0:
        sys.exit(status)


if __name__ == "__main__":
    main()

"""``emorl-eval train``: train a registered model on an ``.h5`` file."""

from __future__ import annotations

import click

from emorl_eval.commands._common import OutputPath


@click.command("train")
@click.option("--model", "model", default=None, show_default="required, except with --init-from: the parent's",
              help="Model: a built-in name (emorl, genesis, genesis_s, slot_attention, iodine), an installed plug-in's entry point, or package.module:Class (see emorl-eval check-model).")
@click.option("--preset", default=None, show_default="the model's default preset, e.g. tetrominoes for emorl; with --init-from the parent's",
              help="Preset of the model: paper hyper-parameters per dataset or ablation "
              "(e.g. tetrominoes, clevr6, multi_dsprites, tetrominoes_no_geco, tetrominoes_cpu).")
@click.option("--data", required=True, help="EfficientMORL-layout .h5 file (emorl-eval data generate makes one).")
@click.option("--out", required=True, type=OutputPath("dir"), help="Run folder, e.g. runs/NAME.")
@click.option("--steps", type=click.IntRange(min=1), default=None, show_default="the preset's, e.g. 200000", help="Total optimiser steps.")
@click.option("--seed", type=int, default=None, show_default="0; with --init-from the parent's",
              help="Seeds weights, noise and data order.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, show_default="the preset's, e.g. 32", help="Effective batch, split across torchrun ranks.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a training field (lr, warmup_steps, clip_grad_norm, refinement_curriculum, ...) or a "
              "model-config field (num_slots, ...); prefix train. or model. to pick one; repeatable. "
              "JSON for lists: --set 'refinement_curriculum=[[0,3],[100000,1]]'; --set refinement_steps=N alone trains "
              "with I = N throughout; --set freeze_modules=mask_vae,q_mean keeps those modules' weights fixed "
              "(--set freeze_until=STEP releases them from that step on).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint_last.pt (same results "
              "as an uninterrupted run): repeat the command that started it and add --resume. --model, --preset, "
              "--seed, --steps, --log-every, --ckpt-every, --init-from and, when no --set is given, the --set values "
              "default to the run's own; "
              "--data may name the same file by another path (it is checked by its sha256).")
@click.option("--init-from", "init_from", default=None, metavar="CKPT|RUN_DIR|zoo:NAME", show_default="a run from scratch",
              help="Start a new run from another run's weights and model state (GECO buffers included). The step "
              "counter continues from the parent's step (GECO, the refinement curriculum and the LR schedule carry "
              "on; --steps is the total), with a fresh Adam whose LR is re-warmed over rewarm_steps (--set "
              "rewarm_steps=N, default 500) and a fresh data order. A model config that differs from the "
              "parent's is refused unless each differing field is given again with --set. config.json, "
              "checkpoints and zoo cards record the lineage (parent, sha256, steps, cumulative steps and minutes).")
@click.option("--init-modules", "init_modules", default=None, metavar="NAME[,NAME...]", show_default="every weight",
              help="With --init-from: load only the parent's parameters and buffers under these module names "
              "(state-dict key prefixes, e.g. mask_vae,q_mean,q_std,post_lstm,post_head); the parent may be another "
              "model when every such tensor fits this model's shape. Everything else starts fresh, the model config "
              "is this run's own (--model and --preset default to the parent's only when --model is not given), and "
              "the step counter starts at 0: this run's schedule, GECO and curriculum from the start. The lineage "
              "records the modules.")
@click.option("--log-every", type=click.IntRange(min=1), default=None, show_default="100", help="Steps between rows of metrics.csv.")
@click.option("--ckpt-every", type=click.IntRange(min=1), default=None, show_default="10000", help="Steps between checkpoints; one is always written at the end.")
@click.option("--device", default=None, show_default="auto", help="cpu, cuda, cuda:N or auto; under torchrun cuda means cuda:LOCAL_RANK.")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast for the forward pass.")
@click.option("--workers", "num_workers", type=click.IntRange(min=0), default=None, show_default="0", help="DataLoader worker processes.")
@click.option("--deterministic", is_flag=True, help="torch.use_deterministic_algorithms(True): bit-reproducible, slower.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              show_default="no limit", help="Stop after this many wall-clock minutes, with a checkpoint; --resume continues.")
@click.option("--tensorboard", is_flag=True,
              help="Also write TensorBoard event files into OUT (rank 0): the metrics.csv scalars, and every "
              "--image-every steps a grid of input, reconstruction and masked component per slot of a fixed batch "
              "(the first 8 training images). Needs pip install -e \".[tensorboard]\"; view with tensorboard --logdir runs/.")
@click.option("--image-every", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Steps between the TensorBoard decomposition grids (with --tensorboard).")
def train_command(model, preset, data, out, steps, seed, batch_size, sets, resume, init_from, init_modules, log_every, ckpt_every,
                  device, bf16, num_workers, deterministic, no_progress, max_minutes, tensorboard=False,
                  image_every=1000) -> None:
    """Train MODEL on DATA with the preset's hyper-parameters; writes OUT/config.json (before the
    first step), OUT/metrics.csv (loss, nll, kl, GECO terms, lr, grad_norm, steps_per_s every
    --log-every steps) and OUT/checkpoint_<7-digit step>.pt (e.g. checkpoint_0010000.pt) + OUT/checkpoint_last.pt.
    loss is the objective the optimiser minimised, not nll + kl: EfficientMORL sums the losses of
    its I+1 inference steps with weights (I+3-i)/(I+1), each nll + kl_beta*kl without GECO or GECO's
    Lagrangian kl_beta*kl - softplus(geco_beta)*(C - nll) while GECO is active (it can be
    negative); nll and kl are the final step's, per image, in nats (kl empty for models without one,
    e.g. Slot Attention). Column docs: emorl_eval/training/metrics_log.py. SIGTERM, Ctrl-C and --max-minutes stop the run cleanly: a checkpoint of the step
    reached is written first, and --resume continues from it.

    \b
    Example:
      emorl-eval train --model emorl --preset tetrominoes --data data/tetrominoes.h5 \\
          --steps 200000 --seed 1 --out runs/tetro_s1
      emorl-eval train ... --out runs/tetro_s1 --resume      # continue a killed run
      emorl-eval train --init-from zoo:emorl-tetrominoes-nogeco-s1 --data data/tetro20k.h5 \\
          --steps 20000 --out runs/nogeco_s1_more              # continue a zoo model's run
      emorl-eval train --model genesis --preset tetrominoes_cpu --init-from zoo:genesis-s-tetrominoes-s1 \\
          --init-modules mask_vae,q_mean,q_std,post_lstm,post_head,prior_lstm,prior_head \\
          --data data/tetro20k.h5 --steps 20000 --out runs/genesis_from_s  # another model's modules
    Several GPUs or CPU processes (DistributedDataParallel; NCCL on GPU, gloo on CPU):
      torchrun --nproc_per_node=2 -m emorl_eval.train --model emorl --preset tetrominoes \\
          --data data/tetrominoes.h5 --steps 200000 --seed 1 --out runs/tetro_ddp

    \b
    Measuring steps/s: train for at least 2 x --log-every steps with --log-every 50
    (e.g. --steps 300) and read the steps_per_s column of OUT/metrics.csv, ignoring the first
    row (it includes start-up); images/s = steps/s x batch size. Use --workers 4 on a GPU so
    data loading does not limit the rate.
    """
    from emorl_eval.errors import ConfigError
    from emorl_eval.training import resolve_train_config, train_until_stopped

    modules = [m.strip() for m in init_modules.split(",") if m.strip()] if init_modules is not None else None
    if modules is not None and not modules:
        raise ConfigError("--init-modules: expected module names such as mask_vae,q_mean")
    if resume:  # the run folder names its model, preset, seed and parent: the start command + --resume works
        started = _started_with(out)
        if not started and model is None:  # a bare --resume of a folder without a run
            raise ConfigError(f"{out}: nothing to resume (no config.json of a run there)")
        if init_from is not None and started.get("init_from") != init_from:
            raise ConfigError(f"--resume {out}: the run was started with --init-from {started.get('init_from')}, "
                              f"not {init_from}; drop --init-from to continue it")
        if modules is not None and modules != (started.get("init_modules") or []):
            raise ConfigError(f"--resume {out}: the run was started with --init-modules "
                              f"{','.join(started.get('init_modules') or []) or '(none)'}; drop --init-modules to continue it")
        modules = None  # the trainer takes the run's own modules from its folder
        model, preset = model or started.get("model"), preset or started.get("preset")
        seed = started.get("seed") if seed is None else seed
        # the run's total and intervals too: the preset's would silently end it early or thin its checkpoints
        steps = started.get("steps") if steps is None else steps
        log_every = started.get("log_every") if log_every is None else log_every
        ckpt_every = started.get("ckpt_every") if ckpt_every is None else ckpt_every
        if not sets:  # a bare --resume continues with the run's own --set values too
            given = {"batch_size": batch_size is not None, "bf16": bf16, "deterministic": deterministic}
            sets = _own_sets(started, skip={k for k, v in given.items() if v})
    elif init_from:
        from emorl_eval.training.lineage import read_parent

        parent = read_parent(init_from)
        if model in (None, parent.model_name):  # another model is refused by the trainer, in its words
            model, preset = parent.model_name, preset or parent.preset
        seed = parent.seed if seed is None else seed
    if model is None:
        raise ConfigError("--model is required (or --init-from, whose parent names it)")
    config = resolve_train_config(
        model, data, str(out), preset, sets=sets, steps=steps, seed=seed, batch_size=batch_size,
        log_every=log_every, ckpt_every=ckpt_every, device=device, bf16=bf16 or None,
        num_workers=num_workers, deterministic=deterministic or None, progress=False if no_progress else None,
        max_minutes=max_minutes, init_from=init_from, init_modules=modules or (),
    )
    result = train_until_stopped(config, resume=resume, tensorboard=_tensorboard_options(tensorboard, image_every))
    _print_summary(result.run_dir)
    if result.stopped_by is not None:
        why = f"--max-minutes {max_minutes:g}" if result.stopped_by == "max_minutes" else result.stopped_by
        click.echo(f"stopped by {why} at step {result.step} of {config.steps} (checkpoint written); "
                   f"continue with the same command and --resume", err=True)
        if result.stopped_by != "max_minutes":  # killed from outside: the conventional 128 + signal
            import signal

            raise SystemExit(128 + int(getattr(signal, result.stopped_by)))


def _started_with(out) -> dict:
    """The training fields of the run in ``out`` (its config.json), or {} when it has none: the
    trainer then says there is nothing to resume."""
    import json
    from pathlib import Path

    try:
        return dict(json.loads((Path(out) / "config.json").read_text()).get("train", {}))
    except (OSError, ValueError):
        return {}


def _own_sets(started: dict, skip: set[str]) -> list[str]:
    """``--set`` strings that give a resumed run the model overrides and tuned training fields it
    was started with (those --resume compares), except the fields in ``skip`` (given on the
    command line)."""
    from emorl_eval.training.config import RESUME_INVARIANT_FIELDS, set_text, training_fields

    sets = [f"model.{key}={set_text(value)}" for key, value in (started.get("model_overrides") or {}).items()]
    settable = set(training_fields()) - {"seed"} - skip
    sets += [f"train.{key}={set_text(started[key])}" for key in RESUME_INVARIANT_FIELDS
             if key in settable and key in started]
    return sets


def _tensorboard_options(enabled: bool, image_every: int):
    """--tensorboard: the logger's options (a one-line error when the extra is missing), else None."""
    if not enabled:
        return None
    from emorl_eval.training.tensorboard_logger import TensorBoardOptions, require_tensorboard

    require_tensorboard()
    return TensorBoardOptions(image_every=image_every)


def _print_summary(run_dir) -> None:
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return
    import pandas as pd

    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        click.echo(f"run: {run_dir}")
        return
    last = pd.read_csv(metrics).iloc[-1]
    geco = _uses_geco(run_dir, last.index)
    keys = [k for k in ("step", "loss", "nll", "kl", "geco_beta", "lr", "steps_per_s")
            if k in last.index and (geco or not k.startswith("geco_"))]
    click.echo(f"run: {run_dir}")
    for key in keys:
        click.echo(f"  {key:<12} {'n/a' if pd.isna(last[key]) else format(last[key], '.6g')}")
    click.echo("  (loss: the training objective" + (", GECO's Lagrangian" if geco else "")
               + ", summed over inference steps where the model has several; not nll + kl)")


def _uses_geco(run_dir, logged) -> bool:
    """Whether the run's model trains with GECO (config.json's model_config.use_geco; for a model
    without that field, whether the ``logged`` metrics.csv columns hold GECO terms)."""
    import json

    try:
        config = json.loads((run_dir / "config.json").read_text()).get("model_config", {})
    except (OSError, ValueError):
        config = {}
    if "use_geco" in config:
        return bool(config["use_geco"])
    return any(str(name).startswith("geco_") for name in logged)

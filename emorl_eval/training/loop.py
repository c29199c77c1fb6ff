"""The training loop: ``train(TrainConfig) -> run folder``.

One step (``step`` = 0-based index of the step about to run):

1. LR from the warm-up/decay schedule, I from the refinement curriculum;
2. ``model.on_train_step(step)`` (GECO warm start and other model-side schedules);
3. forward (optionally under bf16 autocast) with this rank's noise generator, ``loss.backward()``;
4. ``model.after_backward(output)`` (GECO's EMA and Lagrange update); under DDP the output's
   ``nll`` and ``kl`` are gathered from all ranks first (``[B_global]``), so GECO sees the
   effective batch and every rank holds the same GECO state;
5. while ``freeze_modules`` are frozen (steps before ``freeze_until``), their gradients are
   dropped, so neither the clipping norm nor Adam sees them (and, set before item 2, they run
   in eval mode: normalisation layers use and keep their running statistics);
6. gradient-norm clipping, Adam step.

Rank 0 writes ``config.json`` (before the first step), ``metrics.csv`` (every ``log_every`` steps,
values averaged over the interval and the ranks) and checkpoints (every ``ckpt_every`` steps and
at the end). ``resume=True`` continues from ``checkpoint_last.pt``: weights, optimiser, GECO
buffers, every RNG state and the data-stream position are restored, so the continued run computes
the same numbers as an uninterrupted one (bit-for-bit with ``deterministic=True``).
``config.init_from`` starts a new run from another run's weights instead (a fresh optimiser and
data order, the parent's step counter continued; ``emorl_eval.training.lineage``), or with
``config.init_modules`` from some of its modules (the step counter then starts at 0).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from emorl_eval.errors import CheckpointError, ConfigError, DataError, EmorlEvalError
from emorl_eval.provenance import code_commit
from emorl_eval.training import distributed, lineage, rng
from emorl_eval.training.checkpointing import LAST, load_training_checkpoint, save_training_checkpoint
from emorl_eval.training.config import RESUME_INVARIANT_FIELDS, TrainConfig, validate
from emorl_eval.training.data import data_identity, make_loader, open_dataset, same_data_problem
from emorl_eval.training.metrics_log import MetricsCsv
from emorl_eval.training.schedules import lr_at, refinement_steps_at


class TrainingDiverged(EmorlEvalError):
    """The loss became NaN or infinite."""


class StopRequest:
    """SIGTERM / SIGINT handler used during training: the first signal sets :attr:`reason`, and
    the loop writes a checkpoint and returns at the end of the current step (a second SIGINT
    interrupts at once). Installed only in the main thread; the old handlers come back on exit."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclasses.dataclass
class TrainResult:
    """What a call of :func:`train` did: the run folder, the last step reached, and why it
    stopped before ``config.steps`` (None when it finished; ``"SIGTERM"``, ``"SIGINT"`` or
    ``"max_minutes"`` otherwise; a checkpoint of ``step`` was written either way)."""

    run_dir: Path
    step: int
    stopped_by: str | None = None


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train ``config.model`` on ``config.data``; returns the run folder ``config.out``.

    Runs as one process, or as one rank of a ``torchrun`` job (``WORLD_SIZE > 1``).
    ``config.max_minutes``, SIGTERM and SIGINT stop the run early with a checkpoint (see
    :func:`train_until_stopped` for why it stopped).
    """
    return train_until_stopped(config, resume).run_dir


def train_until_stopped(config: TrainConfig, resume: bool = False, tensorboard: Any = None) -> TrainResult:
    """:func:`train`, returning a :class:`TrainResult` (step reached, early-stop reason).
    ``tensorboard``: a :class:`~emorl_eval.training.tensorboard_logger.TensorBoardOptions` to also
    log TensorBoard events into the run folder (rank 0), or None."""
    validate(config)
    previous_determinism = torch.are_deterministic_algorithms_enabled()
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
    ctx = distributed.setup(config.device)
    try:
        trainer = _Trainer(config, ctx)
        trainer.tensorboard, trainer.resuming = tensorboard, resume
        with StopRequest() as stop:
            run_dir = trainer.run(resume, stop)
        return TrainResult(run_dir, trainer.step, trainer.stopped_by)
    finally:
        ctx.close()
        torch.use_deterministic_algorithms(previous_determinism)


def noise_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s sampling-noise generator (distinct per rank)."""
    return seed + 7919 * (rank + 1)


def frozen_parameters(model: torch.nn.Module, modules: list[str]) -> list[torch.nn.Parameter]:
    """The parameters of ``model`` under the module names ``modules`` (key prefixes such as
    ``mask_vae`` or ``post_lstm.weight_ih_l0``); one-line ConfigError for a name that matches none."""
    named = dict(model.named_parameters())
    chosen: dict[str, torch.nn.Parameter] = {}
    for module in modules:
        keys = lineage.keys_under(named, module)
        if not keys:
            raise ConfigError(f"freeze_modules: {type(model).__name__} has no parameters under {module!r}; "
                              f"its top-level modules: {', '.join(lineage.top_level_modules(named))}")
        chosen.update({k: named[k] for k in keys})
    return list(chosen.values())


class _Trainer:
    #: TensorBoard options (emorl_eval.training.tensorboard_logger), None: no TensorBoard events
    tensorboard: Any = None
    #: whether this invocation continues a run (``--resume``)
    resuming: bool = False
    #: parameters under ``freeze_modules`` (set by run())
    frozen: list[torch.nn.Parameter] = []  # noqa: RUF012 (replaced, never mutated)
    #: the submodules named in ``freeze_modules`` (eval mode while frozen)
    frozen_modules: list[torch.nn.Module] = []  # noqa: RUF012

    def __init__(self, config: TrainConfig, ctx: distributed.DistContext) -> None:
        self.cfg = config
        self.ctx = ctx
        self.run_dir = Path(config.out)
        self.step = 0
        self.stopped_by: str | None = None
        #: training wall-clock seconds of this run, all invocations together (stored in checkpoints)
        self.prior_seconds = 0.0
        self.restored_accumulator: dict[str, Any] | None = None
        #: the lineage block of a run started with --init-from (None for a run from scratch)
        self.lineage: dict[str, Any] | None = None
        #: the data file's absolute path and sha256 (training.data.data_identity), set by run()
        self.data_identity: dict[str, str] | None = None
        self.started = time.perf_counter()

    def train_seconds(self) -> float:
        return self.prior_seconds + time.perf_counter() - self.started

    # --- set-up ---------------------------------------------------------------------------
    def run(self, resume: bool, stop: StopRequest | None = None) -> Path:
        from emorl_eval import models

        cfg, ctx = self.cfg, self.ctx
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(f"--out {self.run_dir} is a file, not a run folder; choose another --out")
        dataset = open_dataset(cfg.data, cfg.split)
        self.data_identity = data_identity(cfg.data)
        ckpt = self._checkpoint_to_resume() if resume else None
        if not resume and (self.run_dir / LAST).exists():
            raise ConfigError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another --out")

        loader, sampler = make_loader(  # checks the batch against the data and the ranks first
            dataset, cfg.batch_size, ctx.world_size, ctx.rank, cfg.seed,
            num_workers=cfg.num_workers, pin_memory=ctx.device.type == "cuda",
        )
        rng.seed_all(cfg.seed)  # same initial weights on every rank
        model = models.build(cfg.model, cfg.preset, **cfg.model_overrides)
        self._check_image_size(dataset, model)
        self.frozen = frozen_parameters(model, cfg.freeze_modules)
        names = dict(model.named_modules())
        self.frozen_modules = [names[n] for n in cfg.freeze_modules if n in names]
        model.to(ctx.device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        generator = torch.Generator(device=ctx.device)
        generator.manual_seed(noise_seed(cfg.seed, ctx.rank))

        start_step, position = 0, (0, 0)
        if ckpt is not None:
            start_step, position = self._restore(ckpt, model, optimizer, generator)
        elif cfg.init_from:
            start_step = self._init_from_parent(model)
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_config(model, start_step if ckpt is not None else 0, getattr(dataset, "dataset_name", None))
        ctx.barrier()

        net: torch.nn.Module = model
        if ctx.distributed:
            net = torch.nn.parallel.DistributedDataParallel(
                model,
                device_ids=[ctx.device] if ctx.device.type == "cuda" else None,
                find_unused_parameters=cfg.ddp_find_unused_parameters,
            )
        self._loop(model, net, optimizer, generator, loader, sampler, start_step, position, stop,
                   fresh=ckpt is None)
        return self.run_dir

    def _init_from_parent(self, model) -> int:
        """Load ``--init-from``'s weights into ``model`` after checking its config; returns the
        parent's step, where this run's step counter continues (0 with ``init_modules``)."""
        cfg = self.cfg
        parent = lineage.read_parent(cfg.init_from)
        if cfg.init_modules:
            chosen = lineage.module_weights(parent, model.state_dict(), cfg.init_modules)
            model.load_state_dict(chosen, strict=False)
            self.lineage = parent.record(modules=cfg.init_modules)
            lineage.forget_read_parents()
            return 0
        lineage.check_compatible(parent, cfg.model, model.config_dict(), set(cfg.model_overrides),
                                 preset_hint=lineage.matching_preset(parent.model_name, parent.config))
        if parent.step >= cfg.steps:
            raise ConfigError(f"--init-from {cfg.init_from}: the parent is at step {parent.step} already; "
                              f"--steps is the total step count and must exceed it")
        try:
            model.load_state_dict(parent.state_dict)
        except (RuntimeError, ValueError) as err:
            raise CheckpointError(f"--init-from {cfg.init_from}: does not fit the model ({str(err).splitlines()[0]})") from None
        self.lineage = parent.record()
        lineage.forget_read_parents()  # the weights are in the model now: no second copy for the whole run
        return parent.step

    def _lr(self, step: int) -> float:
        """The schedule's LR at ``step``, re-warmed after ``--init-from``'s parent step (not after
        ``--init-modules``: its step counter starts at 0, under the schedule's own warm-up)."""
        cfg = self.cfg
        lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.lr_decay_rate, cfg.lr_decay_steps)
        if self.lineage is not None and cfg.rewarm_steps > 0 and not self.lineage.get("init_modules"):
            lr *= min(1.0, (step - int(self.lineage["parent_steps"]) + 1) / cfg.rewarm_steps)
        return lr

    def _checkpoint_to_resume(self) -> dict[str, Any]:
        ckpt = load_training_checkpoint(self.run_dir)
        saved = ckpt["extra"]["train_config"]
        if ckpt.get("model_name") not in (None, self.cfg.model):
            raise CheckpointError(f"{self.run_dir / LAST}: holds model {ckpt.get('model_name')!r}, not {self.cfg.model!r}")
        if self.cfg.init_from is None:  # a run started with --init-from resumes as itself
            self.cfg.init_from = saved.get("init_from")
        # the modules it started from are part of the run's identity, whatever the resuming call says
        self.cfg.init_modules = list(saved.get("init_modules") or [])
        current = self.cfg.to_dict()
        # the data is compared by content, not by how its path is written
        changed = [k for k in RESUME_INVARIANT_FIELDS if k != "data" and k in saved and saved[k] != current[k]]
        diffs = [f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed]
        data_problem = same_data_problem(str(saved.get("data", self.cfg.data)), ckpt["extra"].get("data_identity"),
                                         self.cfg.data, self.data_identity)
        if data_problem:
            diffs.insert(0, data_problem)
        if diffs:
            raise ConfigError(f"--resume {self.run_dir}: the run was started with different settings ({', '.join(diffs)})")
        return ckpt

    def _restore(self, ckpt: dict[str, Any], model, optimizer, generator) -> tuple[int, tuple[int, int]]:
        extra = ckpt["extra"]
        try:
            model.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(extra["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{self.run_dir / LAST}: does not fit the model ({str(err).splitlines()[0]})") from None
        states = extra["rng"]
        if self.ctx.rank < len(states):
            rng.restore(states[self.ctx.rank], generator)
        step = int(ckpt["step"])
        epoch, batch = extra["position"]
        self.prior_seconds = float(extra.get("train_seconds", 0.0))
        if extra.get("lineage"):
            self.lineage = {k: v for k, v in extra["lineage"].items() if not k.startswith("cumulative_")}
        accumulators = extra.get("log_accumulator") or []
        self.restored_accumulator = accumulators[self.ctx.rank] if self.ctx.rank < len(accumulators) else None
        return step, (int(epoch), int(batch))

    def _check_image_size(self, dataset, model) -> None:
        size = tuple(getattr(dataset, "image_size", ()) or ())
        if size and tuple(model.image_size) != size:
            raise DataError(
                f"{self.cfg.data}: images are {size[0]}x{size[1]} but the model expects "
                f"{model.image_size[0]}x{model.image_size[1]} (use another preset or --set image_size=[H,W])"
            )

    def _write_config(self, model, start_step: int, dataset_name: str | None) -> None:
        info = {
            "train": self.cfg.to_dict(),
            "model_name": self.cfg.model,
            "preset": self.cfg.preset,
            "dataset": dataset_name,
            "data_identity": self.data_identity,
            "seed": self.cfg.seed,
            "model_config": model.config_dict(),
            "num_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "world_size": self.ctx.world_size,
            "per_rank_batch": self.cfg.batch_size // self.ctx.world_size,
            "resumed_at_step": start_step if start_step else None,
            "lineage": self.lineage,
            "torch_version": torch.__version__,
            "git_commit": code_commit(),
        }
        path = self.run_dir / "config.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2, default=str) + "\n")
        os.replace(tmp, path)

    # --- the loop -------------------------------------------------------------------------
    def _should_stop(self, stop: StopRequest | None, deadline: float | None) -> str | None:
        """Why to stop after this step (a signal or the time limit), agreed by every rank."""
        reason = stop.reason if stop is not None else None
        if reason is None and deadline is not None and time.perf_counter() >= deadline:
            reason = "max_minutes"
        if self.ctx.distributed:  # one rank's signal stops all, so their checkpoints agree
            flag = torch.tensor([1.0 if reason else 0.0], device=self.ctx.device)
            if float(self.ctx.mean(flag)) > 0 and reason is None:
                reason = "SIGTERM"
        return reason

    def _loop(self, model, net, optimizer, generator, loader, sampler, start_step, position,
              stop: StopRequest | None = None, fresh: bool = True) -> None:
        from tqdm import tqdm

        cfg, ctx = self.cfg, self.ctx
        csv_log = MetricsCsv(self.run_dir / "metrics.csv") if ctx.is_main else None
        if csv_log is not None:
            if fresh:
                csv_log.reset()  # rows of an earlier attempt that died before its first checkpoint
            else:
                csv_log.truncate_after(start_step)
                if start_step % cfg.log_every:
                    # the closing row of the run being continued is off the --log-every grid: an
                    # uninterrupted run has no row there (its steps go into the next row instead)
                    csv_log.truncate_after(start_step - 1)
        tb = None
        if self.tensorboard is not None and ctx.is_main:
            from emorl_eval.training.tensorboard_logger import TensorBoardLogger

            tb = TensorBoardLogger(self.run_dir, loader.dataset, start_step, cfg.log_every, self.tensorboard,
                                   fresh=not self.resuming)
        bar = tqdm(
            total=cfg.steps, initial=start_step, unit="step", dynamic_ncols=True, file=sys.stderr,
            disable=not (ctx.is_main and cfg.progress), desc=f"train {cfg.model}",
        )
        # the metrics of steps since the last logged row (restored on resume, so a row spanning a
        # checkpoint averages the same steps as in an uninterrupted run)
        restored = self.restored_accumulator or {"count": 0, "sums": {}}
        sums: dict[str, Tensor] = {k: torch.tensor(v, device=ctx.device) for k, v in restored["sums"].items()}
        count = int(restored["count"])
        last_time, last_step = time.perf_counter(), start_step
        step = self.step = start_step
        epoch, batch_index = position
        deadline = self.started + 60.0 * cfg.max_minutes if cfg.max_minutes is not None else None
        try:
            while step < cfg.steps:
                sampler.set_position(epoch, batch_index)
                for batch in loader:
                    iterations = refinement_steps_at(cfg.refinement_curriculum, step)
                    lr = self._lr(step)
                    logged = self._step(model, net, optimizer, generator, batch, step, lr, iterations)
                    for key, value in logged.items():
                        sums[key] = sums[key] + value if key in sums else value
                    count += 1
                    step += 1
                    batch_index += 1
                    bar.update(1)
                    final = step == cfg.steps
                    if step % cfg.log_every == 0 or final:
                        now = time.perf_counter()
                        row = self._reduce(sums, count)
                        rate = (step - last_step) / max(now - last_time, 1e-9)
                        row.update(lr=lr, refinement_steps=self._logged_iterations(model, iterations),
                                   steps_per_s=rate, images_per_s=rate * cfg.batch_size)
                        if not math.isfinite(row["loss"]):
                            raise TrainingDiverged(
                                f"loss is {row['loss']} at step {step}; the last checkpoint is {self.run_dir / LAST}"
                            )
                        if csv_log is not None:
                            csv_log.append({"step": step, **row})
                        if tb is not None:
                            tb.log_scalars(step, row)
                        bar.set_postfix(loss=f"{row['loss']:.4g}", nll=f"{row['nll']:.4g}", kl=f"{row['kl']:.4g}")
                        # a closing row off the grid keeps its steps for a later --resume
                        pending = (sums, count) if step % cfg.log_every else ({}, 0)
                        sums, count = {}, 0
                        last_time, last_step = time.perf_counter(), step
                    else:
                        pending = (sums, count)
                    self.step = step
                    if tb is not None and tb.wants_images(step, final):
                        tb.log_decomposition(model, step, ctx.device)
                    stopped_by = None if final else self._should_stop(stop, deadline)
                    if step % cfg.ckpt_every == 0 or final or stopped_by:
                        if pending[1]:  # never checkpoint weights a non-finite loss has reached
                            loss = float(self.ctx.mean(pending[0]["loss"].reshape(1).to(self.ctx.device)) / pending[1])
                            if not math.isfinite(loss):
                                raise TrainingDiverged(
                                    f"loss is {loss} before step {step}; the last checkpoint is {self.run_dir / LAST}"
                                )
                        self._checkpoint(model, optimizer, generator, step, (epoch, batch_index), *pending)
                    if stopped_by:
                        self.stopped_by = stopped_by
                        return
                    if final:
                        break
                else:  # the epoch ran out
                    epoch, batch_index = epoch + 1, 0
        finally:
            bar.close()
            if tb is not None:
                tb.close()

    def _step(self, model, net, optimizer, generator, batch, step: int, lr: float, iterations: int | None) -> dict[str, Tensor]:
        cfg, ctx = self.cfg, self.ctx
        for group in optimizer.param_groups:
            group["lr"] = lr
        freezing = bool(self.frozen) and (cfg.freeze_until is None or step < cfg.freeze_until)
        for module in self.frozen_modules:  # set every step: other code may switch the whole model
            module.train(not freezing)
        model.on_train_step(step)
        images = batch["image"].to(ctx.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = net(images, refinement_steps=iterations, generator=generator)
        out.loss.backward()
        if ctx.distributed:
            out = dataclasses.replace(out, nll=ctx.gather_cat(out.nll.detach()), kl=ctx.gather_cat(out.kl.detach()))
        model.after_backward(out)
        if freezing:
            for param in self.frozen:  # Adam skips a parameter without a gradient
                param.grad = None
        max_norm = cfg.clip_grad_norm if cfg.clip_grad_norm is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        logged = {
            "loss": out.loss.detach().float(),
            "nll": out.nll.detach().float().mean(),
            # a model without a KL term (Slot Attention) logs none: metrics.csv leaves the cell empty
            "kl": out.kl.detach().float().mean() if getattr(model, "has_kl", True)
            else torch.tensor(math.nan, device=ctx.device),
            "grad_norm": grad_norm.detach().float(),
        }
        for key, value in out.extras.items():
            logged.setdefault(key, torch.as_tensor(value).detach().float().mean().to(ctx.device))
        return logged

    @staticmethod
    def _logged_iterations(model, iterations: int | None) -> int | str:
        """I of the step: the curriculum's, else the model's configured one ("" without refinement)."""
        if iterations is not None:
            return iterations
        if getattr(model, "supports_refinement", False):
            return int(getattr(model.config, "refinement_steps", "") or 0)
        return ""

    def _reduce(self, sums: dict[str, Tensor], count: int) -> dict[str, float]:
        keys = list(sums)
        values = torch.stack([sums[k].to(self.ctx.device) for k in keys]) / count
        values = self.ctx.mean(values).cpu().tolist()
        return dict(zip(keys, values))

    def _checkpoint(self, model, optimizer, generator, step: int, position: tuple[int, int],
                    sums: dict[str, Tensor] | None = None, count: int = 0) -> None:
        states = self.ctx.gather_objects(rng.capture(generator))
        accumulators = self.ctx.gather_objects(
            {"count": int(count), "sums": {k: float(v) for k, v in (sums or {}).items()}})
        if self.ctx.is_main:
            extra = {
                "train_config": self.cfg.to_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": states,
                "position": list(position),
                "world_size": self.ctx.world_size,
                "train_seconds": self.train_seconds(),
                "data_identity": self.data_identity,
                "log_accumulator": accumulators,
                # a readable copy of the GECO buffers (the state itself is in state_dict)
                "geco": {k: float(v) for k, v in model.state_dict().items()
                         if k.split(".")[-1].startswith("geco_") and v.numel() == 1},
            }
            if self.lineage is not None:
                extra["lineage"] = lineage.updated(self.lineage, step, self.train_seconds())
            save_training_checkpoint(self.run_dir, model, step, extra)
        self.ctx.barrier()

"""Evaluate a model on a dataset: one row per image with ARI, MSE, KL and segmentation scores.

    >>> import models
    >>> from emorl_eval.data import ObjectsDataset
    >>> from emorl_eval.evaluate import evaluate_model, summarize
    >>> df = evaluate_model(models.load("runs/x/checkpoint.pt"), ObjectsDataset("data/t.h5"), num=320)
    >>> summarize(df)                     # mean ± std per metric

Conventions (those of the reference ``eval.py``): the first ``num`` images of the split, in file
order; masks of the final inference stage; ARI on argmax segmentations with background pixels
excluded for ``ari_fg``; MSE of the model's reconstruction (for mixtures ``sum_k pi_k y_k``) in
[0, 1] units per pixel-channel; KL per image in nats as the model reports it. The forward pass runs
under ``torch.no_grad()`` (models that refine with gradients enable them internally).

Determinism: each batch's sampling noise comes from its own ``torch.Generator`` seeded from
``(seed, index of the batch's first image)``, so the same call gives the same numbers; a different
``batch_size`` regroups the noise and can change the stochastic metrics slightly.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from emorl_eval.errors import ConfigError, DataError
from emorl_eval.metrics import kl_per_image, mask_metrics, mse
from emorl_eval.models._peer_ops import eval_mode

#: metric columns of the per-image table, in display order
METRIC_COLUMNS: tuple[str, ...] = ("ari_fg", "ari_all", "mse", "kl", "msc", "mbo", "sc", "matched_iou",
                                   "matched_coverage", "nll", "slots_used")
#: identity columns of the per-image table (``likelihood`` and ``sigma``: what ``nll`` is, from
#: ``model.likelihood_info()``; NLLs of different likelihoods are not comparable)
ID_COLUMNS: tuple[str, ...] = (
    "model", "preset", "dataset", "split", "checkpoint", "checkpoint_sha256", "checkpoint_step", "eval_seed",
    "refinement_steps", "likelihood", "sigma", "image_index",
)
#: human-readable names for tables and figures
METRIC_LABELS: dict[str, str] = {
    "ari_fg": "ARI (fg)",
    "ari_all": "ARI (all)",
    "mse": "MSE",
    "kl": "KL (nats)",
    "msc": "mSC",
    "mbo": "mBO",
    "sc": "SC",
    "matched_iou": "matched IoU",
    "matched_coverage": "matched coverage",
    "nll": "NLL (nats)",
    "slots_used": "slots used",
}


def batch_generator(seed: int, first_index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of the batch starting at image ``first_index`` (independent streams)."""
    state = np.random.SeedSequence([int(seed), int(first_index)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & ((1 << 63) - 1))


def effective_refinement_steps(model: Any, refinement_steps: int | None) -> int:
    """The number of refinement steps I the forward pass will run (0 for models without)."""
    if not getattr(model, "supports_refinement", False):
        return 0
    if refinement_steps is not None:
        if int(refinement_steps) < 0:
            raise ConfigError(f"refinement steps must be >= 0, got {refinement_steps}")
        return int(refinement_steps)
    return int(getattr(model.config, "refinement_steps", 0) or 0)


def check_compatible(model: Any, dataset: Any) -> None:
    """DataError unless the dataset's images have the model's (H, W)."""
    model_hw = tuple(int(v) for v in model.image_size)
    data_hw = tuple(int(v) for v in dataset.image_size)
    if model_hw != data_hw:
        raise DataError(
            f"dataset {getattr(dataset, 'path', dataset)} has {data_hw[0]}x{data_hw[1]} images but the model "
            f"expects {model_hw[0]}x{model_hw[1]}"
        )


def resize_labels(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of label maps ``[B, H', W']`` to ``size`` (the prediction's)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    out = torch.nn.functional.interpolate(labels[:, None].float(), size=size, mode="nearest")
    return out[:, 0].long()


#: a slot counts as used in an image when it wins the argmax on at least this fraction of pixels
SLOT_USED_MIN_AREA = 0.01


def slots_used(masks: Tensor, min_area: float = SLOT_USED_MIN_AREA) -> Tensor:
    """Number of slots that win the per-pixel argmax on at least ``min_area`` of the pixels.

    Args:
        masks: ``[B, K, 1, H, W]`` (or ``[B, K, H, W]``) mask probabilities.
    Returns:
        ``[B]`` float64 counts; 1 means one slot owns (nearly) every pixel (a collapsed model).
    """
    m = masks.reshape(masks.shape[0], masks.shape[1], -1)
    winners = torch.nn.functional.one_hot(m.argmax(dim=1), m.shape[1]).to(torch.float64).mean(dim=1)  # [B, K]
    return (winners >= min_area).sum(dim=1).to(torch.float64)


def _image_rows(batch: dict[str, Tensor], output: Any, kl_monte_carlo: bool = False) -> dict[str, np.ndarray]:
    """Per-image metric values of one batch."""
    images = batch["image"]
    masks = output.masks.detach()
    true = resize_labels(batch["masks"].to(masks.device), tuple(masks.shape[-2:]))
    scores = mask_metrics(true, masks, visibility=batch["visibility"].to(masks.device))
    b = images.shape[0]
    scores["mse"] = mse(images, output.recon.detach())
    scores["kl"] = kl_per_image(output.kl, batch_size=b, monte_carlo=kl_monte_carlo)
    nll = getattr(output, "nll", None)
    scores["nll"] = nll.detach().to(torch.float64) if isinstance(nll, Tensor) else torch.full((b,), math.nan)
    scores["slots_used"] = slots_used(masks)
    return {k: v.cpu().numpy() for k, v in scores.items()}


def images_to_evaluate(model: Any, dataset: Any, num: int | None, batch_size: int) -> int:
    """How many of ``dataset``'s first images a run over ``num`` of them scores (None or more than
    it holds: all of them), after checking the arguments and that the image sizes agree.

    Raises:
        ConfigError: ``batch_size`` or ``num`` below 1. DataError: an empty dataset, other image sizes.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    if num is not None and num < 1:
        raise ConfigError(f"number of images must be >= 1, got {num}")
    if len(dataset) == 0:
        raise DataError(f"dataset {getattr(dataset, 'path', dataset)} has no images")
    check_compatible(model, dataset)
    return len(dataset) if num is None else min(int(num), len(dataset))


def forward_batches(model: Any, dataset: Any, n: int, batch_size: int, steps: int, seed: int,
                    device: torch.device, progress: bool, desc: str = "evaluate") -> Iterator[tuple[dict[str, Tensor], Any]]:
    """Forward the first ``n`` images of ``dataset`` in file order, ``batch_size`` at a time.

    Yields ``(batch, output)``: the batch's items (``image [B, 3, H, W]`` on ``device``, ``masks``,
    ``visibility``, ``index``) and the model's :class:`ModelOutput` under ``torch.no_grad()``, with
    the sampling noise of :func:`batch_generator` (so every caller sees the same forward passes).
    """
    from torch.utils.data import DataLoader, Subset
    from tqdm.auto import tqdm

    loader = DataLoader(Subset(dataset, range(n)), batch_size=batch_size, shuffle=False, num_workers=0)
    start = 0
    if getattr(model, "supports_refinement", False):
        desc = f"{desc} I={steps}"
    with tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for batch in loader:
            images = batch["image"].to(device)
            generator = batch_generator(seed, start, device)
            with torch.no_grad():
                output = model(images, refinement_steps=steps if model.supports_refinement else None,
                               generator=generator)
            yield {**batch, "image": images}, output
            start += images.shape[0]
            bar.update(images.shape[0])


def _run_batches(model: Any, dataset: Any, n: int, batch_size: int, steps: int, seed: int,
                 device: torch.device, progress: bool) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Forward the first ``n`` images in batches; per-batch image indices and metric arrays."""
    columns: dict[str, list[np.ndarray]] = {k: [] for k in METRIC_COLUMNS}
    indices: list[np.ndarray] = []
    for batch, output in forward_batches(model, dataset, n, batch_size, steps, seed, device, progress):
        rows = _image_rows(batch, output, getattr(model, "kl_monte_carlo", False))
        for key in METRIC_COLUMNS:
            columns[key].append(rows[key])
        indices.append(batch["index"].numpy())
    return indices, columns


def evaluate_model(
    model: Any,
    dataset: Any,
    num: int | None = 320,
    batch_size: int = 32,
    refinement_steps: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``model`` on the first ``num`` images of ``dataset`` and score every image.

    Args:
        model: an :class:`models.interface.ObjectCentricModel`.
        dataset: an :class:`emorl_eval.data.ObjectsDataset` (items ``image [3, H, W]``,
            ``masks [H', W']`` label map, ``visibility [M]``, ``index``).
        num: number of images (the first ones of the split); None or more than the split holds
            means all of them.
        batch_size: images per forward pass.
        refinement_steps: test-time refinement steps I (None: the model's configured value;
            ignored by models without refinement).
        seed: seed of the sampling noise.
        device: where the model runs.
        progress: show a tqdm progress bar on stderr.
        metadata: extra identity columns (e.g. ``checkpoint``, ``checkpoint_step``, ``preset``).

    Returns:
        One row per image: :data:`ID_COLUMNS` then :data:`METRIC_COLUMNS` (float64; ARI, mSC, mBO,
        SC, matched IoU in [0, 1]; MSE per pixel-channel; KL and NLL in nats per image; KL is NaN,
        written empty, for a model without a KL term).

    Raises:
        DataError / ConfigError: incompatible image sizes, empty dataset, bad arguments.
    """
    n = images_to_evaluate(model, dataset, num, batch_size)
    steps = effective_refinement_steps(model, refinement_steps)
    device = torch.device(device)
    model = model.to(device)
    with eval_mode(model):  # leaves the caller's model as it was
        indices, columns = _run_batches(model, dataset, n, batch_size, steps, seed, device, progress)

    if not getattr(model, "has_kl", True):  # no KL term (e.g. Slot Attention): n/a, not 0
        columns["kl"] = [np.full(len(part), np.nan) for part in columns["kl"]]
    likelihood = model.likelihood_info() if hasattr(model, "likelihood_info") else {}
    meta = dict(metadata or {})
    df = pd.DataFrame({
        "model": getattr(model, "model_name", type(model).__name__),
        "preset": meta.pop("preset", getattr(model, "preset", None)),
        "dataset": getattr(dataset, "dataset_name", None),
        "split": getattr(dataset, "split", None),
        "checkpoint": meta.pop("checkpoint", None),
        "checkpoint_sha256": meta.pop("checkpoint_sha256", None),
        "checkpoint_step": meta.pop("checkpoint_step", None),
        "eval_seed": int(seed),
        "refinement_steps": steps,
        "likelihood": likelihood.get("likelihood"),
        "sigma": likelihood.get("sigma"),
        "image_index": np.concatenate(indices).astype(np.int64),
        **{key: np.concatenate(columns[key]).astype(np.float64) for key in METRIC_COLUMNS},
    })
    for key, value in meta.items():
        df[key] = value
    return df


def summarize(df: pd.DataFrame, metrics: Iterable[str] = METRIC_COLUMNS) -> pd.DataFrame:
    """Mean ± std (sample std, ddof=1; 0 for one image) of each metric over images.

    Returns:
        Long table, one row per metric: ``metric, label, mean, std, n`` (NaN values, e.g. a model
        that does not report NLL, are skipped; a metric with no value at all, e.g. the KL of a
        model without a KL term, has ``n`` 0 and empty ``mean``/``std``: shown as n/a). The NLL's
        label names its likelihood and sigma when ``df`` has them.
    """
    rows = []
    for metric in metrics:
        if metric not in df:
            continue
        label = METRIC_LABELS.get(metric, metric)
        if metric == "nll":
            label = nll_label(df)
        values = pd.to_numeric(df[metric], errors="coerce").dropna()
        if values.empty:
            rows.append({"metric": metric, "label": label, "mean": math.nan, "std": math.nan, "n": 0})
            continue
        # equal values have std 0 exactly (pandas' two-pass std leaves ~1e-17 of rounding)
        std = float(values.std(ddof=1)) if len(values) > 1 and values.nunique() > 1 else 0.0
        rows.append({"metric": metric, "label": label,
                     "mean": float(values.mean()), "std": std, "n": int(len(values))})
    return pd.DataFrame(rows, columns=["metric", "label", "mean", "std", "n"])


def nll_label(df: pd.DataFrame) -> str:
    """``NLL (nats; gaussian, sigma 0.1)``: the NLL's label with the likelihood it is of."""
    if "likelihood" not in df or df["likelihood"].isna().all():
        return METRIC_LABELS["nll"]
    likelihood = str(df["likelihood"].iloc[0])
    sigma = df["sigma"].iloc[0] if "sigma" in df else None
    if likelihood == "sse":
        return "NLL (sum of squared errors, no likelihood)"
    return f"NLL (nats; {likelihood}" + (f", sigma {float(sigma):g})" if pd.notna(sigma) else ")")


def format_value(value: float) -> str:
    """Four significant digits, scientific notation for tiny or huge values."""
    if value != value:  # NaN
        return "n/a"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}" if abs(value) >= 1 else f"{value:.4f}"
    return f"{value:.3e}"


def summary_markdown(summary: pd.DataFrame, title: str | None = None) -> str:
    """The summary as a markdown table: ``| metric | mean ± std | n |``."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| metric | mean ± std | n |", "|---|---|---|"]
    for r in summary.itertuples():
        shown = "n/a" if r.n == 0 else f"{format_value(r.mean)} ± {format_value(r.std)}"
        lines.append(f"| {r.label} | {shown} | {r.n} |")
    return "\n".join(lines) + "\n"


#: the three quantities of the refinement sweep figure (appendix D, Figure 14)
SWEEP_METRICS: tuple[str, ...] = ("ari_fg", "mse", "kl")


def refinement_sweep(
    model: Any,
    dataset: Any,
    steps: Iterable[int],
    num: int | None = 320,
    batch_size: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Evaluate the same model and images at each number of test-time refinement steps I.

    Args:
        steps: the values of I (each >= 0).
        (others as :func:`evaluate_model`; every I uses the same ``seed``.)

    Returns:
        Long table, one row per (I, image, metric): the identity columns of
        :func:`evaluate_model` (``refinement_steps`` = I), then ``metric`` and ``value``.

    Raises:
        ConfigError: the model has no test-time refinement, or no / negative steps.
    """
    steps = list(dict.fromkeys(int(s) for s in steps))
    if not steps:
        raise ConfigError("no refinement steps to sweep")
    if min(steps) < 0:
        raise ConfigError(f"refinement steps must be >= 0, got {min(steps)}")
    if not getattr(model, "supports_refinement", False):
        name = getattr(model, "model_name", type(model).__name__)
        raise ConfigError(f"model {name!r} has no test-time refinement steps: there is nothing to sweep")
    frames = []
    for i in steps:
        df = evaluate_model(model, dataset, num=num, batch_size=batch_size, refinement_steps=i, seed=seed,
                            device=device, progress=progress, metadata=metadata)
        id_cols = [c for c in df.columns if c not in METRIC_COLUMNS]
        frames.append(df.melt(id_vars=id_cols, value_vars=list(METRIC_COLUMNS), var_name="metric",
                              value_name="value"))
    return pd.concat(frames, ignore_index=True)


def sweep_summary(long: pd.DataFrame, metrics: Iterable[str] = SWEEP_METRICS) -> pd.DataFrame:
    """Mean per I of each metric of a :func:`refinement_sweep` table: wide, one row per I."""
    sub = long[long["metric"].isin(list(metrics))]
    table = sub.groupby(["refinement_steps", "metric"])["value"].mean().unstack("metric")
    return table[[m for m in metrics if m in table.columns]].reset_index()


# --- files: what `emorl-eval evaluate` / `refine-sweep` read and write -----------------------

def resolve_checkpoint(path: Any) -> Any:
    """A checkpoint file, or a run folder: its ``checkpoint_last.pt``, else its newest
    ``checkpoint*.pt`` (by step in the name); an official GENESIS run folder
    (``checkpoints/<run>/<n>/``, or ``<run>`` itself: its highest ``<n>``) gives ``model.ckpt-FINAL``,
    else ``model.ckpt-latest``, else its highest ``model.ckpt-<iter>``. Raises CheckpointError when
    there is none."""
    from pathlib import Path

    from emorl_eval.errors import CheckpointError

    path = Path(path)
    if not path.is_dir():
        return path
    if (path / "checkpoint_last.pt").is_file():
        return path / "checkpoint_last.pt"
    found = sorted(path.glob("checkpoint*.pt"))
    if found:
        return found[-1]
    official = _official_genesis_checkpoint(path)
    if official is None:
        raise CheckpointError(f"run folder {path} holds no checkpoint*.pt (nor an official model.ckpt-*)")
    return official


def _official_genesis_checkpoint(folder: Any) -> Any:
    """The checkpoint an official GENESIS trainer's folder names as its newest, or None."""
    def iteration(file: Any) -> int:
        tail = file.name.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    for name in ("model.ckpt-FINAL", "model.ckpt-latest"):
        if (folder / name).is_file():
            return folder / name
    numbered = [f for f in folder.glob("model.ckpt-*") if f.is_file() and iteration(f) >= 0]
    if numbered:
        return max(numbered, key=iteration)
    repeats = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))
    for repeat in reversed(repeats):  # <run>/<n>/: the highest n that holds a checkpoint
        found = _official_genesis_checkpoint(repeat)
        if found is not None:
            return found
    return None


def load_inputs(ckpt: Any, data: Any, split: str = "test", preset: str | None = None,
                device: str | torch.device = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """Load a checkpoint (ours or official with ``preset``) and a dataset split.

    Returns:
        ``(model, dataset, metadata)`` with metadata ``checkpoint`` (path), ``checkpoint_sha256``,
        ``checkpoint_step`` and ``preset`` for :func:`evaluate_model`.

    Raises:
        CheckpointError / DataError / ConfigError with one-line messages.
    """
    from emorl_eval import models
    from emorl_eval.data import ObjectsDataset
    from emorl_eval.models.checkpoints import file_sha256, read_checkpoint

    ckpt = resolve_checkpoint(ckpt)
    dataset = ObjectsDataset(data, split=split)
    model = models.load(ckpt, preset=preset, map_location=str(device))
    check_compatible(model, dataset)
    info = read_checkpoint(ckpt)
    metadata = {
        "checkpoint": str(ckpt),
        "checkpoint_sha256": file_sha256(ckpt),  # which file, whatever its path becomes
        "checkpoint_step": int(info.get("step", 0)),
        "preset": info.get("preset") or preset or getattr(model, "preset", None),
    }
    return model, dataset, metadata


def default_out_dir(ckpt: Any) -> Any:
    """Where results go by default: ``eval/`` beside the checkpoint (``runs/NAME/eval``; for a run
    folder, inside it), which is where ``emorl-eval ablation-table`` looks for them. For a zoo
    model, ``runs/zoo/NAME/eval`` (a run folder with a copy of its config.json; the shipped zoo is
    never written)."""
    from pathlib import Path

    from emorl_eval import zoo

    local = zoo.local_run_folder(ckpt)
    if local is not None:
        return local / "eval"
    ckpt = Path(ckpt)
    return (ckpt if ckpt.is_dir() else ckpt.parent) / "eval"


def write_text_atomic(path: Any, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def prepare_out_dir(out: Any) -> Any:
    """Create ``out``; an unwritable place is a one-line ConfigError."""
    from pathlib import Path

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"output folder {out}: cannot write there ({err.strerror or err})") from None
    return out


def run_header(df: pd.DataFrame) -> str:
    """One line naming what was evaluated, from a per-image table's identity columns."""
    first = df.iloc[0]
    name = f"{first['model']}" + (f" ({first['preset']})" if pd.notna(first["preset"]) and first["preset"] else "")
    parts = [f"{name} on {first['dataset']} {first['split']}: {len(df)} images"]
    if pd.notna(first.get("checkpoint_step")):
        parts.append(f"step {int(first['checkpoint_step'])}")
    parts.append(f"I={int(first['refinement_steps'])}, seed {int(first['eval_seed'])}")
    return ", ".join(parts)


def write_evaluation(df: pd.DataFrame, out: Any, warnings: list[str] | None = None) -> dict[str, Any]:
    """Write ``per_image.csv``, ``summary.csv`` and ``summary.md`` into ``out`` (atomically).

    ``summary.csv`` is long: ``metric, label, mean, std, n`` plus the run's identity columns
    (model, preset, dataset, split, checkpoint, checkpoint_sha256, checkpoint_step, eval_seed,
    refinement_steps, likelihood, sigma) and
    ``warnings`` (``emorl_eval.diagnostics.evaluation_warnings`` of ``df`` unless given).
    """
    from emorl_eval.diagnostics import evaluation_warnings, joined

    out = prepare_out_dir(out)
    summary = summarize(df)
    for col in ("model", "preset", "dataset", "split", "checkpoint", "checkpoint_sha256", "checkpoint_step",
                "eval_seed", "refinement_steps", "likelihood", "sigma"):
        if col in df:
            summary[col] = df[col].iloc[0]
    summary["warnings"] = joined(evaluation_warnings(df) if warnings is None else warnings)
    paths = {"per_image": out / "per_image.csv", "summary": out / "summary.csv", "markdown": out / "summary.md"}
    write_text_atomic(paths["per_image"], df.to_csv(index=False, float_format="%.10g"))
    write_text_atomic(paths["summary"], summary.to_csv(index=False, float_format="%.10g"))
    write_text_atomic(paths["markdown"], summary_markdown(summary, run_header(df)))
    return paths


def write_sweep(long: pd.DataFrame, out: Any) -> Any:
    """Write a :func:`refinement_sweep` table to ``out/refine_sweep.csv`` (atomically)."""
    out = prepare_out_dir(out)
    path = out / "refine_sweep.csv"
    write_text_atomic(path, long.to_csv(index=False, float_format="%.10g"))
    return path


# old private names, used by emorl_eval.dci
_check_compatible = check_compatible
_resize_labels = resize_labels
_write_text_atomic = write_text_atomic

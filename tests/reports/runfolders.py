"""Fixture run folders shaped like what `train` and `evaluate` write."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd


def make_run(root: Path, name: str, *, model: str = "emorl", preset: str = "tetrominoes",
             dataset: str = "tetrominoes", seed: int = 0, ari: list[float] | None = None,
             mse: list[float] | None = None, kl: list[float] | None = None,
             layout: str = "per_image", config_style: str = "trainer", steps: int = 10,
             overrides: dict | None = None) -> Path:
    """A run folder with config.json and, unless ``layout == "none"``, an evaluation:
    ``per_image`` (eval/per_image.csv), ``summary_long`` (metric/mean/std rows) or
    ``summary_wide`` (one row of <metric>_mean/<metric>_std). ``config_style`` ``trainer`` writes
    config.json as the trainer does (dataset only as a data path), ``flat`` a flat one with the
    dataset's name."""
    run = root / name
    run.mkdir(parents=True)
    if config_style == "trainer":  # what emorl_eval.training writes: no dataset name, a data path
        from emorl_eval.models.presets import resolve_config
        from emorl_eval.training.config import resolve_train_config

        from emorl_eval.errors import ConfigError

        sets = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in (overrides or {}).items()]
        try:  # the resolved configs the trainer records
            train = resolve_train_config(model, f"data/{dataset}_file.h5", f"runs/{name}", preset, sets=sets,
                                         seed=seed, steps=steps).to_dict()
            model_config = dataclasses.asdict(resolve_config(model, preset, train["model_overrides"]))
        except ConfigError:  # a registry without the model (tests that patch it): a minimal record
            train = {"model": model, "preset": preset, "data": f"data/{dataset}_file.h5", "seed": seed,
                     "steps": steps}
            model_config = {"num_slots": 4, "latent_dim": 8, "image_size": [35, 35]}
        config = {"train": train, "model_name": model, "preset": preset, "model_config": model_config}
    else:  # a flat hand-written config
        config = {"model": model, "preset": preset, "seed": seed, "dataset": dataset}
    (run / "config.json").write_text(json.dumps(config))
    if layout == "none":
        return run
    (run / "eval").mkdir()
    cols = {"ARI (fg)": ari, "MSE": mse, "KL": kl}
    cols = {k: v for k, v in cols.items() if v is not None}
    if layout == "per_image":
        df = pd.DataFrame(cols)
        df.insert(0, "model", model)
        df.insert(1, "dataset", dataset)
        df["seed"] = 0
        df["checkpoint_step"] = steps
        df.to_csv(run / "eval" / "per_image.csv", index=False)
    elif layout == "summary_long":
        pd.DataFrame({"metric": list(cols), "mean": [np.mean(v) for v in cols.values()],
                      "std": [np.std(v) for v in cols.values()], "n": len(next(iter(cols.values()))),
                      "dataset": dataset}).to_csv(run / "eval" / "summary.csv", index=False)
    elif layout == "summary_wide":
        row = {}
        for k, v in cols.items():
            row[f"{k}_mean"], row[f"{k}_std"] = np.mean(v), np.std(v)
        row["dataset"] = dataset
        pd.DataFrame([row]).to_csv(run / "eval" / "summary.csv", index=False)
    else:
        raise ValueError(layout)
    return run

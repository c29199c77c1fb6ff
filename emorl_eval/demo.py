"""The end-to-end demo on built-in data: the README's first set-up command.

One call runs the toolkit on procedurally generated Tetrominoes, each step through the same
``emorl-eval`` command a user would type, inside the output folder (``data/``, ``runs/``,
``reports/`` below it). The numbers come from the **zoo** (models trained here on a 2-core CPU,
``emorl-eval zoo list``), evaluated afresh on held-out images; a short training run exercises the
training path:

1. ``data generate``  - Tetrominoes with a seed the zoo never trained on (held-out scenes);
2. ``train``          - EfficientMORL ``tetrominoes_cpu``, a short run (``--steps``; resumes);
3. ``evaluate``       - that run, then every zoo Tetrominoes model (``runs/zoo/NAME/eval``);
4. ``refine-sweep``   - the zoo EfficientMORL at I = 0..4 test-time refinement steps (Figure 14);
5. ``dci``            - DCI of the zoo EfficientMORL seeds (mean ± std, appendix E.2);
6. ``symmetry``       - the appendix A checks on the learned EfficientMORL weights;
7. ``leakage``        - the zoo EfficientMORL, and the first zoo GENESIS-family model when the
                         zoo holds one (appendix B, Figure 11; today ``genesis-v2-tetrominoes-s1``:
                         no GENESIS trained here decomposes yet, README "Model zoo"), with their
                         traversal figures; ``leakage-compare`` - every zoo model on the same
                         images and settings (one table, one figure), printed at the end beside
                         each model's FG-ARI and MSE;
8. ``figures``        - decomposition of the zoo EfficientMORL (Figures 16-18);
9. ``report``         - ablation table over the zoo seeds and the index ``reports/README.md``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

#: seed of the demo's data: the zoo models were trained and carded on seed 0 files
DEMO_DATA_SEED = 100


@dataclass(frozen=True)
class DemoPlan:
    """The demo's settings. Paths are relative to ``out`` (the demo runs inside it).

    Attributes:
        out: root folder (``data/``, ``runs/``, ``reports/`` below it).
        num_images: images generated (10% form the test split).
        steps: steps of the short training run.
        batch_size: its batch size.
        eval_images: held-out test images every model is evaluated on.
        seed: data seed (default: one the zoo never saw); the short run trains with seed 1.
        emorl: zoo names of the EfficientMORL seeds (the first one gets the per-model reports).
        peers: zoo names of the comparison models (evaluated; the first GENESIS one in leakage).
    """

    out: Path = Path(".")
    num_images: int = 3200
    steps: int = 20
    batch_size: int = 8
    eval_images: int = 320
    seed: int = DEMO_DATA_SEED
    emorl: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    data_file: Path = field(default=Path("data") / "tetrominoes.h5", init=False)

    @property
    def run_dir(self) -> Path:
        return Path("runs") / "emorl_tetrominoes_cpu_short"

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "checkpoint_last.pt"

    @property
    def leakage_comparison(self) -> Path:
        """Output prefix of the leakage comparison of the zoo models (``.csv``, ``.md``, ``.png``)."""
        return Path("reports") / "leakage" / "zoo_comparison"

    def commands(self) -> list[tuple[str, list[str]]]:
        """``(title, argv)`` of each step, in order (paths relative to ``out``)."""
        data, run, ckpt, num = str(self.data_file), str(self.run_dir), str(self.checkpoint), str(self.eval_images)
        resume = ["--resume"] if (self.out / self.checkpoint).is_file() else []
        steps: list[tuple[str, list[str]]] = [
            ("generate built-in Tetrominoes (held-out seed)",
             ["data", "generate", "--dataset", "tetrominoes", "--num", str(self.num_images),
              "--seed", str(self.seed), "--out", data, "--overwrite"]),
            (f"train EfficientMORL tetrominoes_cpu for {self.steps} steps (the training path; the zoo holds the learned weights)",
             ["train", "--model", "emorl", "--preset", "tetrominoes_cpu", "--data", data,
              "--steps", str(self.steps), "--batch-size", str(self.batch_size), "--seed", "1",
              "--log-every", str(max(1, min(10, self.steps))), "--ckpt-every", str(self.steps),
              "--no-progress", "--out", run] + resume),
            ("evaluate the short run", ["evaluate", "--ckpt", ckpt, "--data", data, "--num", num, "--no-progress"]),
        ]
        for name in (*self.emorl, *self.peers):
            steps.append((f"evaluate zoo:{name}",
                          ["evaluate", "--ckpt", f"zoo:{name}", "--data", data, "--num", num, "--no-progress"]))
        # per-model reports on the first zoo EfficientMORL, or on the short run when the zoo has none
        first, label = (f"zoo:{self.emorl[0]}", self.emorl[0]) if self.emorl else (ckpt, self.run_dir.name)
        dci_ckpts = [f"zoo:{n}" for n in self.emorl] or [ckpt]
        figures = Path("reports") / "figures"
        steps += [
            ("refinement sweep I = 0..4",
             ["refine-sweep", "--ckpt", first, "--data", data, "--num", num, "--steps", "0,1,2,3,4",
              "--no-progress", "--figure", str(figures / f"refine_sweep_{label}.png")]),
            ("DCI on matched slots" + (", EfficientMORL seeds" if len(dci_ckpts) > 1 else ""),
             ["dci", *[a for c in dci_ckpts for a in ("--ckpt", c)], "--data", data, "--num", num,
              "--no-progress", "--out", str(Path("reports") / "dci" / "emorl_tetrominoes"),
              "--figure", str(figures / "dci_importance_emorl_tetrominoes.png")]),
            ("symmetry checks on the trained weights (appendix A)",
             ["symmetry", "--ckpt", first, "--out", str(Path("reports") / "symmetry")]),
            ("decomposition figure",
             ["figures", "decompose", "--ckpt", first, "--data", data, "--num", "4",
              "--out", str(figures / f"{label}_decompose.png")]),
        ]
        genesis = [p for p in self.peers if p.startswith("genesis")][:1]
        for ref, name in ((first, label), *((f"zoo:{g}", g) for g in genesis)):
            steps.append((f"leakage of {ref}",
                          ["leakage", "--ckpt", ref, "--data", data, "--out", str(Path("reports") / "leakage" / name)]))
        zoo_models = (*self.emorl, *self.peers)
        if zoo_models:
            steps.append(("leakage of every zoo model on the same images and settings (appendix B)",
                          ["leakage-compare", *[a for n in zoo_models for a in ("--ckpt", f"zoo:{n}")],
                           "--data", data, "--no-progress", "--out", str(self.leakage_comparison)]))
        steps.append(("report: ablation table over the evaluated runs, index",
                      ["report", "runs", "--out", "reports"]))
        return steps


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run the block with ``folder`` (created) as the working directory."""
    folder.mkdir(parents=True, exist_ok=True)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def zoo_plan(**options) -> DemoPlan:
    """A :class:`DemoPlan` over the zoo's Tetrominoes models (EfficientMORL seeds and peers)."""
    from emorl_eval import zoo

    emorl, peers = [], []
    for entry in zoo.entries():
        if entry.card.get("dataset") != "tetrominoes":
            continue
        (emorl if entry.card["model"] == "emorl" else peers).append(entry.name)
    return DemoPlan(emorl=tuple(emorl), peers=tuple(peers), **options)


def run_demo(plan: DemoPlan, invoke: Callable[[list[str]], int], echo: Callable[[str], None]) -> int:
    """Run the plan's commands in order, inside ``plan.out``, with ``invoke(argv) -> exit status``.

    The symmetry step's exit status (1 = a property is violated) is reported but does not stop
    the demo; any other non-zero status stops it. Returns the worst exit status seen. Ends with
    EfficientMORL's FG-ARI (mean over the held-out images) from the zoo evaluation.
    """
    worst = 0
    steps = plan.commands()
    with inside(plan.out):
        for i, (title, argv) in enumerate(steps, start=1):
            echo(f"\n[{i}/{len(steps)}] {title}: emorl-eval {' '.join(argv)}")
            status = invoke(argv)
            worst = max(worst, status)
            if status != 0 and argv[0] != "symmetry":
                echo(f"step {i} ({title}) failed with exit status {status}; stopping")
                return status
        headline = headline_numbers(plan)
    if headline:
        echo("\n" + headline)
    echo(f"\ndone: tables and figures indexed in {plan.out / 'reports' / 'README.md'}")
    return worst


def headline_numbers(plan: DemoPlan) -> str:
    """FG-ARI and MSE of every evaluated zoo model (and its leakage from the comparison) and of
    the short run (cwd = ``plan.out``)."""
    import pandas as pd

    leakage: dict[str, float] = {}
    comparison = plan.leakage_comparison.with_name(plan.leakage_comparison.name + ".csv")
    if comparison.is_file():
        table = pd.read_csv(comparison)
        leakage = dict(zip(table["label"].astype(str), table["leakage"].astype(float)))
    rows = []
    for name in (*plan.emorl, *plan.peers):
        per_image = Path("runs") / "zoo" / name / "eval" / "per_image.csv"
        if per_image.is_file():
            df = pd.read_csv(per_image)
            leak = leakage.get(f"zoo:{name}")
            leak_text = "" if leak is None else "  leakage " + ("n/a" if leak != leak else f"{leak:.2f}")
            rows.append(f"  zoo:{name:<30} FG-ARI {df['ari_fg'].mean():.3f} ± {df['ari_fg'].std(ddof=0):.3f}  "
                        f"MSE {df['mse'].mean():.2e}{leak_text}  ({len(df)} held-out images)")
    short = plan.run_dir / "eval" / "per_image.csv"
    if short.is_file():
        df = pd.read_csv(short)
        rows.append(f"  {'short run (' + str(plan.steps) + ' steps)':<34} FG-ARI {df['ari_fg'].mean():.3f}"
                    f"  MSE {df['mse'].mean():.2e}")
    zoo_rows = [r for r in rows if "zoo:" in r]
    title = "Zoo models on held-out Tetrominoes (FG-ARI, MSE):" if zoo_rows else "results:"
    if leakage:
        title += (" (leakage: fraction of a one-slot traversal's change outside the slot, same images "
                  f"for every model; {comparison})")
    return "\n".join([title, *rows]) if rows else ""

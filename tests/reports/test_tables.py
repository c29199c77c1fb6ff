"""Ablation table on fixture run folders: grouping, mean ± std, formats, missing evaluations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from emorl_eval import cli
from emorl_eval.errors import ConfigError
from emorl_eval.reports.runs import discover_runs
from emorl_eval.reports.tables import ablation_table, display_table, format_mean_std, split_preset, variant_label
from tests.reports.runfolders import make_run


@pytest.fixture()
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    # full model, three seeds, per-image evaluations
    make_run(root, "tet_s1", seed=1, ari=[0.9, 1.0], mse=[6e-4, 8e-4], kl=[100.0, 110.0])
    make_run(root, "tet_s2", seed=2, ari=[0.8, 0.8], mse=[5e-4, 5e-4], kl=[90.0, 90.0])
    make_run(root, "nested/tet_s3", seed=3, ari=[1.0, 1.0], mse=[4e-4, 6e-4], kl=[80.0, 100.0],
             layout="summary_long")
    # ablation without GECO, two seeds, wide summaries
    make_run(root, "nogeco_s1", preset="tetrominoes_no_geco", seed=1, ari=[0.7], mse=[7e-3], kl=[40.0],
             layout="summary_wide")
    make_run(root, "nogeco_s2", preset="tetrominoes_no_geco", seed=2, ari=[0.9], mse=[5e-3], kl=[50.0])
    # a prior ablation without KL, one seed; and a run never evaluated
    make_run(root, "bu_s1", preset="tetrominoes_bottom_up_prior", seed=1, ari=[0.85], mse=[1.7e-3])
    make_run(root, "nogeco_s3", preset="tetrominoes_no_geco", seed=3, layout="none")
    return root


def test_discover_reads_all_layouts_and_lists_missing(runs_dir: Path) -> None:
    table = discover_runs(runs_dir)
    assert len(table.runs) == 6
    assert list(table.missing["run"]) == ["nogeco_s3"]
    assert "no eval/" in table.missing["reason"].iloc[0]
    row = table.runs.set_index("run").loc["tet_s3"]
    assert row["source"] == "summary.csv"
    assert row["ari"] == pytest.approx(1.0) and row["mse"] == pytest.approx(5e-4)
    assert row["kl"] == pytest.approx(90.0)
    wide = table.runs.set_index("run").loc["nogeco_s1"]
    assert wide["mse"] == pytest.approx(7e-3)
    # trainer-style config: model, preset, seed from the nested "train" block, the dataset name
    # from the evaluation (not the data file's name)
    trainer = table.runs.set_index("run").loc["tet_s1"]
    assert (trainer["model"], trainer["preset"], trainer["seed"], trainer["dataset"]) == (
        "emorl", "tetrominoes", 1, "tetrominoes")
    assert table.missing.set_index("run").loc["nogeco_s3", "dataset"] == "tetrominoes_file"


def test_aggregation_matches_numpy(runs_dir: Path) -> None:
    agg = ablation_table(discover_runs(runs_dir)).set_index("preset")
    full = agg.loc["tetrominoes"]
    run_ari = [0.95, 0.8, 1.0]
    assert full["n_seeds"] == 3
    assert full["ari_mean"] == pytest.approx(np.mean(run_ari))
    assert full["ari_std"] == pytest.approx(np.std(run_ari, ddof=1))
    assert full["mse_mean"] == pytest.approx(np.mean([7e-4, 5e-4, 5e-4]))
    nogeco = agg.loc["tetrominoes_no_geco"]
    assert nogeco["n_seeds"] == 2  # the unevaluated third seed is not counted
    assert nogeco["kl_std"] == pytest.approx(np.std([40.0, 50.0], ddof=1))
    assert math.isnan(agg.loc["tetrominoes_bottom_up_prior", "kl_mean"])


def test_display_table_has_table2_shape(runs_dir: Path) -> None:
    shown = display_table(ablation_table(discover_runs(runs_dir)))
    assert list(shown.columns) == ["Env", "variant", "steps", "ARI", "MSE (x1e-4)", "KL", "n seeds"]
    assert list(shown["variant"]) == ["emorl", "emorl w/ bottom up prior", "emorl w/out geco"]
    full = shown.iloc[0]
    assert full["ARI"] == f"{np.mean([95, 80, 100]):.1f} ± {np.std([95, 80, 100], ddof=1):.1f}"
    assert full["MSE (x1e-4)"] == "5.7 ± 1.2"
    bottom_up = shown.iloc[1]
    assert bottom_up["KL"] == "-" and bottom_up["ARI"] == "85.0" and bottom_up["n seeds"] == 1


def test_runs_group_by_the_variant_they_really_are(tmp_path: Path) -> None:
    """A --set override is its own variant named by it, a different step budget is its own row,
    and a run folder that records no recipe never pools with runs that do."""
    root = tmp_path / "runs"
    for seed in (1, 2):
        make_run(root, f"full_s{seed}", seed=seed, ari=[0.9], mse=[5e-4], kl=[100.0], steps=10_000)
    make_run(root, "off_s1", seed=1, ari=[0.6], mse=[5e-3], kl=[40.0], steps=10_000, overrides={"use_geco": False})
    make_run(root, "short_s1", seed=1, ari=[0.1], mse=[4e-2], kl=[10.0], steps=20)
    make_run(root, "flat_s1", seed=1, ari=[0.5], mse=[1e-3], kl=[50.0], layout="summary_long", config_style="flat")
    agg = ablation_table(discover_runs(root))
    rows = {(r.variant, r.steps if not pd.isna(r.steps) else None): r.n_seeds for r in agg.itertuples()}
    assert rows == {("emorl", 10_000): 2, ("emorl (use_geco=false)", 10_000): 1, ("emorl", 20): 1,
                    ("emorl", None): 1}
    shown = display_table(agg)
    assert set(shown["steps"]) == {"10,000", "20", "-"}


def test_helpers() -> None:
    assert format_mean_std(0.824, 0.079, 10, 100, 1) == "82.4 ± 7.9"
    assert format_mean_std(float("nan"), 0.0, 3, 1, 1) == "-"
    assert variant_label("emorl", "no_dualgru") == "emorl w/out dualgru"
    assert split_preset("nonexistent_model", "clevr6_no_geco", "clevr6") == ("clevr6", "no_geco")
    # the CPU-size recipe is the base its ablations are named against (Table 2 at CPU size)
    assert split_preset("emorl", "tetrominoes_cpu", "tetrominoes") == ("tetrominoes_cpu", "")
    assert split_preset("emorl", "tetrominoes_cpu_no_geco", "tetrominoes") == ("tetrominoes_cpu", "no_geco")


def test_cli_writes_md_csv_tex_png(runs_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "tables" / "ablation"
    result = CliRunner().invoke(cli.cli, ["ablation-table", str(runs_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "missing an evaluation" in result.output and "nogeco_s3" in result.output
    wrote = result.output.strip().splitlines()[-1]
    for suffix in (".md", ".csv", ".tex", "_runs.csv", "_missing.csv"):
        assert f"ablation{suffix}" in wrote  # every file written is named
    md = (tmp_path / "reports/tables/ablation.md").read_text()
    assert "| Env | variant | steps | ARI | MSE (x1e-4) | KL | n seeds |" in md
    assert "nogeco_s3" in md
    tex = (tmp_path / "reports/tables/ablation.tex").read_text()
    assert r"\begin{tabular}{llrrrrr}" in tex and r"$\pm$" in tex and r"MSE ($\times 10^{-4}$)" in tex
    assert r"emorl w/out geco" in tex and "tetrominoes" in tex
    csv = pd.read_csv(tmp_path / "reports/tables/ablation.csv")
    assert len(csv) == 3 and {"ari_mean", "ari_std", "n_seeds"} <= set(csv.columns)
    png = tmp_path / "reports/tables/ablation.png"
    assert png.stat().st_size > 1000


def test_bad_root_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run folders"):
        discover_runs(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        discover_runs(tmp_path / "nope")


def test_committed_table2_at_10k_is_what_its_run_folders_give(tmp_path: Path) -> None:
    """docs/ablation/table2_10k holds the six evaluated 10,000-step checkpoints (config.json and
    per-image metrics) behind README's Table 2: ablation-table over them gives the committed table,
    two variants of three seeds each, and the means equal numpy's over the per-image CSVs."""
    root = Path(__file__).resolve().parents[2] / "docs" / "ablation" / "table2_10k"
    result = CliRunner().invoke(cli.cli, ["ablation-table", str(root), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.md").read_text() == (root / "table.md").read_text()
    table = pd.read_csv(tmp_path / "t.csv").set_index("preset")
    runs = {"tetrominoes_cpu": ["geco_s1", "geco_s2", "geco_s3_scratch"],
            "tetrominoes_cpu_no_geco": ["nogeco_s1", "nogeco_s2", "nogeco_s3"]}
    for preset, names in runs.items():
        fg = [pd.read_csv(root / f"{name}_10000" / "eval" / "per_image.csv")["ari_fg"].mean() for name in names]
        assert table.loc[preset, "n_seeds"] == 3 and table.loc[preset, "steps"] == 10000
        assert table.loc[preset, "ari_mean"] == pytest.approx(np.mean(fg), abs=1e-9)
        assert table.loc[preset, "ari_std"] == pytest.approx(np.std(fg, ddof=1), abs=1e-9)

"""reports/README.md links every table and figure; `report` without data still indexes the table."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from emorl_eval import cli
from emorl_eval.reports.index import write_index
from emorl_eval.reports.report import latest_checkpoint
from tests.reports.runfolders import make_run


def test_index_links_every_artifact(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for rel in ["tables/ablation.md", "tables/ablation.csv", "tables/ablation.tex", "figures/run1_decompose.png",
                "timing/timing.csv", "misc/thing.png", ".hidden/x.png"]:
        (reports / rel).parent.mkdir(parents=True, exist_ok=True)
        (reports / rel).write_bytes(b"x")
    readme = write_index(reports, notes=["run2: skipped (no checkpoint)"]).read_text()
    for rel in ["tables/ablation.md", "tables/ablation.csv", "tables/ablation.tex", "figures/run1_decompose.png",
                "timing/timing.csv", "misc/thing.png"]:
        assert f"({rel})" in readme
    assert ".hidden" not in readme and "run2: skipped" in readme
    assert "![run1_decompose](figures/run1_decompose.png)" in readme
    assert readme.index("## Tables") < readme.index("## Efficiency") < readme.index("## Figures") < readme.index("## misc")


def test_report_cli_without_data(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "a", seed=1, ari=[0.9], mse=[1e-3], kl=[10.0])
    make_run(runs, "b", seed=2, layout="none")
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli.cli, ["report", str(runs), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    readme = (out / "README.md").read_text()
    assert "(tables/ablation.md)" in readme and "(tables/ablation.png)" in readme
    assert "no evaluation: b" in readme and "no --data given" in readme


def test_latest_checkpoint(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    for name in ["checkpoint_900.pt", "checkpoint_10000.pt", "checkpoint_2000.pt"]:
        (tmp_path / name).write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "checkpoint_10000.pt"
    (tmp_path / "checkpoint_final.pt").write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "checkpoint_final.pt"

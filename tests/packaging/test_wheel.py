"""The built wheel installs everything under ``emorl_eval`` (nothing generic such as ``models`` or
``cli`` at the top level of site-packages), and the toolkit works beside a research repository
that has its own ``models/`` package and ``cli.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy of the sources: setuptools writes build/ and *.egg-info/ into the tree it
    # builds, and tests write nothing into the checkout
    source = tmp_path_factory.mktemp("source") / "emorl-eval"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for folder in ("emorl_eval", "models"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    # no build isolation: the installed setuptools builds it, nothing is downloaded
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(out)], check=True, capture_output=True, cwd=out)
    (path,) = out.glob("emorl_eval-*.whl")
    return path


def test_top_level_names_are_only_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"emorl_eval"}, sorted(top)
    for name in names:
        if name.endswith(".dist-info/top_level.txt"):  # written by some setuptools versions
            assert zipfile.ZipFile(wheel).read(name).decode().split() == ["emorl_eval"]


def test_every_package_folder_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    folders = {p.parent for p in (REPO / "emorl_eval").rglob("__init__.py")}
    expected = {"/".join(("emorl_eval",) + f.relative_to(REPO / "emorl_eval").parts) for f in folders}
    expected |= {"/".join(("emorl_eval", "models") + p.parent.relative_to(REPO / "models").parts)
                 for p in (REPO / "models").rglob("__init__.py")}
    expected = {e.rstrip("/") for e in expected}
    missing = sorted(e for e in expected if f"{e}/__init__.py" not in names)
    assert not missing, f"package folders missing from the wheel (add them to [tool.setuptools] packages): {missing}"
    # the model zoo ships its weights and cards
    assert any(n.startswith("emorl_eval/zoo/") and n.endswith(".pt") for n in names)
    assert "emorl_eval/models/efficient_morl.py" in names and "emorl_eval/cli.py" in names


def test_toolkit_and_a_research_repo_with_its_own_models_and_cli_coexist(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    assert not (site / "models").exists() and not (site / "cli.py").exists()
    research = tmp_path / "my_research_repo"
    (research / "models").mkdir(parents=True)
    (research / "models" / "__init__.py").write_text("OWNER = 'the research repo'\n")
    (research / "cli.py").write_text("OWNER = 'the research repo'\n")
    script = textwrap.dedent(f"""
        import models, cli
        assert models.OWNER == cli.OWNER == 'the research repo', (models.__file__, cli.__file__)
        import emorl_eval
        from emorl_eval import models as toolkit_models
        from emorl_eval.cli import COMMANDS
        assert emorl_eval.__file__.startswith({str(site)!r}), emorl_eval.__file__
        assert toolkit_models.__file__.startswith({str(site)!r}), toolkit_models.__file__
        assert 'emorl' in toolkit_models.available() and 'check-model' in COMMANDS
        model = toolkit_models.build('slot_attention', preset='tiny')
        print('ok', type(model).__module__)
    """)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", script], cwd=research, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "emorl_eval.models.slot_attention"]


def test_library_code_never_imports_the_repository_only_models_name() -> None:
    """``models`` is importable only from the repository root (it installs as ``emorl_eval.models``):
    library code importing it works in the test suite and fails for every user elsewhere."""
    import ast

    offenders = []
    for folder in ("emorl_eval", "models"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                offenders += [f"{path.relative_to(REPO)}:{node.lineno} {name}" for name in names
                              if name.split(".")[0] in ("models", "cli")]
    assert not offenders, offenders

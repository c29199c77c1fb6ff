"""Plug-in models: import specs and entry points resolve, checkpoints name their plug-in, and a
missing, broken or contract-breaking plug-in is refused with one line."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from emorl_eval import models
from tests.cli_run import run_cli
from emorl_eval.errors import CheckpointError, ConfigError, ModelError
from emorl_eval.models.checkpoints import save_checkpoint
from emorl_eval.models.presets import available_presets, default_preset, training_defaults

SPEC = "tests.models.broken_plugins:{}"


def _invoke(capsys, argv: list[str]) -> tuple[int, str, str]:
    return run_cli(argv, capsys)


def test_an_import_spec_builds_the_class_with_its_presets() -> None:
    spec = SPEC.format("Conforming")
    model = models.build(spec)
    assert type(model).__name__ == "Conforming" and model.preset == "tiny"
    assert available_presets(spec) == ["tiny"] and default_preset(spec) == "tiny"
    assert training_defaults(spec)["lr"] == 1e-3
    assert models.is_plugin(spec) and not models.is_plugin("emorl")
    assert models.plugin_spec(model) == spec and models.plugin_spec(models.build("slot_attention", "tiny")) is None


@pytest.mark.parametrize("spec, phrase", [
    ("no_such_package.models:Model", "cannot import 'no_such_package.models'"),
    ("tests.models.broken_plugins:Missing", "has no attribute 'Missing'"),
    ("tests.models.broken_plugins:NotAModel", "not a subclass of emorl_eval.models.interface.ObjectCentricModel"),
    ("tests.models.broken_plugins:", "expected package.module:Class"),
    ("tests.models.broken_plugins:build", "name the model class instead"),
])
def test_a_broken_spec_is_one_model_error(spec: str, phrase: str) -> None:
    with pytest.raises(ModelError, match="plug-in model") as info:
        models.build(spec)
    assert phrase in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_plain_name_lists_the_models() -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope'; available: emorl"):
        models.build("nope")


def test_an_entry_point_registers_a_plugin_by_name(monkeypatch) -> None:
    monkeypatch.setattr(models, "_entry_points", lambda: {"conforming": SPEC.format("Conforming")})
    assert "conforming" in models.available()
    model = models.build("conforming")
    assert type(model).__name__ == "Conforming"
    assert models.plugin_spec(model) == SPEC.format("Conforming")  # checkpoints record the import spec


def test_the_installed_example_plugin_is_an_entry_point() -> None:
    """examples/my_model declares `kmeans`; CI installs it (EMORL_EVAL_REQUIRE_EXAMPLE=1)."""
    names = {ep.name: ep.value for ep in entry_points(group=models.ENTRY_POINT_GROUP)}
    if "kmeans" not in names:
        if os.environ.get("EMORL_EVAL_REQUIRE_EXAMPLE"):
            pytest.fail("examples/my_model is not installed (pip install -e examples/my_model)")
        pytest.skip("examples/my_model not installed")
    assert names["kmeans"] == "my_model.kmeans:SoftKMeans"
    assert "kmeans" in models.available()
    assert type(models.build("kmeans")).__name__ == "SoftKMeans"


def test_a_plugin_checkpoint_names_its_plugin_and_loads_again(tmp_path: Path) -> None:
    spec = SPEC.format("Conforming")
    model = models.build(spec)
    path = save_checkpoint(tmp_path / "c.pt", model, step=3)
    payload = torch.load(path, weights_only=True)
    assert payload["plugin"] == spec and payload["model_name"] == "conforming"
    loaded = models.load(path)
    assert type(loaded).__name__ == "Conforming"
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_a_checkpoint_whose_plugin_is_gone_is_one_checkpoint_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", models.build(SPEC.format("Conforming")), step=3)
    payload = torch.load(path, weights_only=True)
    payload["plugin"] = "uninstalled_package.model:Model"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="cannot import 'uninstalled_package.model'") as info:
        models.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cls_name, phrase", [
    ("UnnormalisedMasks", "masks do not sum to 1"),
    ("WrongLatentShape", "latents is [2, 3, 15], expected [2, 3, 16]"),
    ("ReconMismatch", "recon is not the sum of masks x components"),
    ("NaNLoss", "loss has non-finite values"),
])
def test_a_contract_breaking_forward_raises_one_model_error(cls_name: str, phrase: str) -> None:
    model = models.build(SPEC.format(cls_name)).eval()
    with pytest.raises(ModelError) as info:
        model(torch.rand(2, 3, 16, 16))
    message = str(info.value)
    assert phrase in message and "check-model" in message and "\n" not in message


def test_nan_in_training_mode_is_left_to_the_trainer() -> None:
    model = models.build(SPEC.format("NaNLoss")).train()
    out = model(torch.rand(2, 3, 16, 16))
    assert torch.isnan(out.loss)


@pytest.fixture(scope="module")
def broken_ckpts(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("broken")
    return {name: save_checkpoint(folder / f"{name}.pt", models.build(SPEC.format(name)), step=0)
            for name in ("UnnormalisedMasks", "NaNLoss", "WrongLatentShape")}


@pytest.fixture(scope="module")
def tiny16_h5(tmp_path_factory) -> Path:
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("d16") / "d.h5", "multi_dsprites", num=8, seed=0,
                       test_fraction=0.5, size=16)


@pytest.mark.parametrize("command", ["evaluate", "dci"])
@pytest.mark.parametrize("cls_name, phrase", [("UnnormalisedMasks", "masks do not sum to 1"),
                                               ("NaNLoss", "non-finite"),
                                               ("WrongLatentShape", "latents is")])
def test_commands_refuse_a_contract_breaking_plugin_with_one_line(capsys, tmp_path, broken_ckpts, tiny16_h5,
                                                                  command, cls_name, phrase) -> None:
    argv = [command, "--ckpt", str(broken_ckpts[cls_name]), "--data", str(tiny16_h5), "--num", "4",
            "--out", str(tmp_path / "out")]
    if command == "dci":
        argv += ["--protocol", "regression", "--n-jobs", "1", "--no-progress", "--figure", str(tmp_path / "f.png")]
    code, _, err = _invoke(capsys, argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and phrase in lines[-1] and "broke the output contract" in lines[-1]
    assert "Traceback" not in err


def test_train_refuses_a_contract_breaking_plugin_with_one_line(capsys, tmp_path, tiny16_h5) -> None:
    code, _, err = _invoke(capsys, ["train", "--model", SPEC.format("UnnormalisedMasks"), "--data", str(tiny16_h5),
                                    "--out", str(tmp_path / "run"), "--steps", "2", "--no-progress"])
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ") and "masks do not sum to 1" in err


def test_train_with_a_missing_plugin_is_one_line(capsys, tmp_path, tiny16_h5) -> None:
    code, _, err = _invoke(capsys, ["train", "--model", "not_installed.pkg:Model", "--data", str(tiny16_h5),
                                    "--out", str(tmp_path / "run"), "--steps", "2"])
    assert code == 2 and err.strip().count("\n") == 0 and "cannot import 'not_installed.pkg'" in err


def test_timing_measures_a_plugin_and_reports_a_broken_one() -> None:
    from emorl_eval.reports.timing import count_parameters, measure_timing

    table = measure_timing([SPEC.format("Conforming"), "missing_pkg.mod:Model"], [16], batch_size=2, repeats=1,
                           warmup=0, preset=None).set_index("model")
    ok = table.loc[SPEC.format("Conforming")]
    assert ok["status"] == "ok" and ok["ms_per_step"] > 0
    assert int(ok["params"]) == count_parameters(models.build(SPEC.format("Conforming")))
    assert table.loc["missing_pkg.mod:Model", "status"].startswith("unavailable: plug-in model")

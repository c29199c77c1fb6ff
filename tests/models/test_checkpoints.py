"""Checkpoints: our format round trip, official EfficientMORL files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import CheckpointError
from emorl_eval.models.checkpoints import read_checkpoint, save_checkpoint
from emorl_eval.models.efficient_morl import OFFICIAL_KEY_MAP, official_to_ours, ours_to_official
from tests.models.conftest import small_model

FIXTURES = {p: f"fixtures/official_format_emorl_{p}_init.pth" for p in ("tetrominoes", "clevr6")}


def test_round_trip_weights_only(tmp_path: Path, tiny_images: torch.Tensor) -> None:
    model = small_model("tetrominoes", num_slots=2)
    model.geco.geco_beta.fill_(0.9)
    path = save_checkpoint(tmp_path / "run" / "checkpoint.pt", model, step=12, extra={"note": "x", "rng": torch.arange(3)})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "emorl-eval" and raw["version"] == 1 and raw["model_name"] == "emorl"
    assert raw["preset"] == "tetrominoes" and raw["step"] == 12 and raw["config"]["num_slots"] == 2
    assert raw["config"]["image_size"] == [12, 12]
    assert read_checkpoint(path)["extra"]["note"] == "x"
    loaded = models.load(path)  # no preset needed
    assert loaded.config == model.config and not loaded.training
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    noise = model.draw_noise(2, generator=torch.Generator().manual_seed(0))
    a, b = model.eval()(tiny_images, noise=noise), loaded(tiny_images, noise=noise)
    assert torch.equal(a.recon, b.recon)
    assert list(tmp_path.joinpath("run").iterdir()) == [path]  # no temp files left


@pytest.mark.parametrize("preset,count", [("tetrominoes", 467_236), ("clevr6", 666_500)])
def test_official_fixture_loads_strictly(shared_dir: Path, preset: str, count: int) -> None:
    path = shared_dir / FIXTURES[preset]
    raw = torch.load(path, weights_only=True)["model"]
    model = models.load(path, preset=preset)
    ours = model.state_dict()
    assert len(ours) == len(raw)
    for key, value in raw.items():
        mapped = official_to_ours(key[len("module."):])
        assert torch.equal(ours[mapped], value), key
    assert sum(p.numel() for p in model.parameters()) == count
    assert float(model.geco.geco_beta) == pytest.approx(0.55)


def test_official_key_map_covers_both_fixtures(shared_dir: Path) -> None:
    for preset, rel in FIXTURES.items():
        raw = torch.load(shared_dir / rel, weights_only=True)["model"]
        mapped = {official_to_ours(k[len("module."):]) for k in raw}
        assert None not in mapped
        assert mapped == set(models.build("emorl", preset=preset).state_dict())
    assert len({new for _, new in OFFICIAL_KEY_MAP}) == len(OFFICIAL_KEY_MAP)
    for preset in ("clevr6_no_dualgru", "tetrominoes"):
        for key in models.build("emorl", preset=preset).state_dict():
            assert official_to_ours(ours_to_official(key)) == key


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_wrong_preset_is_a_one_line_error(shared_dir: Path) -> None:
    with pytest.raises(CheckpointError) as exc:
        models.load(shared_dir / FIXTURES["tetrominoes"], preset="clevr6")
    message = _one_line(exc)
    assert "does not fit preset 'clevr6'" in message and "tetrominoes" in message
    with pytest.raises(CheckpointError) as exc:
        models.load(shared_dir / FIXTURES["clevr6"])
    assert "give a preset" in _one_line(exc)


def test_truncated_and_foreign_files(tmp_path: Path, shared_dir: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", small_model(num_slots=2), step=1)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    official_cut = tmp_path / "official_cut.pth"
    official_cut.write_bytes((shared_dir / FIXTURES["tetrominoes"]).read_bytes()[:100_000])
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    other = tmp_path / "other.pt"
    torch.save({"weights": {"a": torch.zeros(1)}}, other)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    # the example: a checkpoint cut mid-file (torch's own text is about miniz internals)
    cases = {truncated: "is truncated or corrupt: a torch archive that does not read to the end",
             official_cut: "truncated", text: "it is not a file written by torch.save",
             empty: "is an empty file (0 bytes)",
             tensor: "not a checkpoint", other: "not an emorl-eval or official", tmp_path / "missing.pt": "does not exist"}
    for path, expected in cases.items():
        with pytest.raises(CheckpointError) as exc:
            models.load(path, preset="tetrominoes")
        assert expected in _one_line(exc), (path, str(exc.value))
        assert "miniz" not in str(exc.value) and "KeyError" not in str(exc.value)


def test_checkpoint_that_does_not_fit_its_config(tmp_path: Path) -> None:
    model = small_model(num_slots=2)
    path = save_checkpoint(tmp_path / "c.pt", model, step=0)
    raw = torch.load(path, weights_only=True)
    raw["config"]["latent_dim"] = 16
    torch.save(raw, path)
    with pytest.raises(CheckpointError) as exc:
        models.load(path)
    assert "does not fit its own config" in _one_line(exc)
    raw["config"]["bogus"] = 1
    torch.save(raw, path)
    with pytest.raises(CheckpointError) as exc:
        models.load(path)
    assert "unknown config key" in _one_line(exc)


def test_checkpoints_are_written_world_readable(tmp_path: Path) -> None:
    import stat

    path = save_checkpoint(tmp_path / "c.pt", small_model(num_slots=2), step=0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

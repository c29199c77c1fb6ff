"""Official GENESIS / GENESIS-v2 checkpoints (fixtures written by the official train.py from a
perturbed fresh model; ../shared/design/genesis_official.md): strict loading from an official run
folder or an explicit flags file, and the forward pass with the Gaussian noise at zero against an
independent literal re-computation from the official formulas (tests/models/genesis_reference.py).
Every loading problem is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import CheckpointError
from tests.models.genesis_reference import genesis_forward

FIXTURES = ("genesis_multi_dsprites", "genesis_tetrominoes", "genesisv2_multi_dsprites")


def fixture_files(shared_dir: Path, name: str) -> tuple[Path, Path]:
    """(checkpoint, flags) of fixture ``name``; skips with one line naming a missing file."""
    ckpt = shared_dir / "fixtures" / f"official_format_{name}_perturbed.pth"
    flags = shared_dir / "fixtures" / f"official_format_{name}_flags.json"
    for path in (ckpt, flags):
        if not path.is_file():
            pytest.skip(f"{path} not found (official-format GENESIS fixture; set EMORL_SHARED)")
    return ckpt, flags


def run_folder(tmp_path: Path, ckpt: Path, flags: Path, name: str = "model.ckpt-FINAL") -> Path:
    """An official run folder: the checkpoint (a symlink) with flags.json beside it."""
    folder = tmp_path / "run" / "1"
    folder.mkdir(parents=True)
    (folder / name).symlink_to(ckpt)
    shutil.copy(flags, folder / "flags.json")
    return folder / name


def squares(batch: int, size: int) -> torch.Tensor:
    """``[B, 3, S, S]`` grey 0.5 with two coloured squares per image (deterministic)."""
    g = torch.Generator().manual_seed(7)
    x = torch.full((batch, 3, size, size), 0.5)
    for b in range(batch):
        for _ in range(2):
            side = size // 4
            r, c = torch.randint(0, size - side, (2,), generator=g).tolist()
            x[b, :, r:r + side, c:c + side] = torch.rand(3, 1, 1, generator=g)
    return x


def zero_noise(model: models.ObjectCentricModel, batch: int) -> dict[str, torch.Tensor]:
    return {k: torch.zeros_like(v) for k, v in model.draw_noise(batch).items()}


def official_state(ckpt: Path) -> dict[str, torch.Tensor]:
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)["model_state_dict"]
    return {k: v.double() if v.is_floating_point() else v for k, v in raw.items()}


@pytest.mark.parametrize("name", ["genesis_multi_dsprites", "genesis_tetrominoes"])
def test_genesis_forward_matches_literal_reference(shared_dir: Path, tmp_path: Path, name: str) -> None:
    ckpt, flags = fixture_files(shared_dir, name)
    model = models.load(run_folder(tmp_path, ckpt, flags)).double()
    k, size = model.num_slots, model.config.image_size[0]
    assert (k, size) == {"genesis_multi_dsprites": (5, 64), "genesis_tetrominoes": (4, 32)}[name]
    x = squares(2, size).double()
    with torch.no_grad():
        out = model(x, noise=zero_noise(model, 2))
        ref = genesis_forward(official_state(ckpt), x, k)
    tol = dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out.masks, ref["log_m_k"].exp(), **tol)
    torch.testing.assert_close(out.components, ref["x_r_k"], **tol)
    torch.testing.assert_close(out.recon, ref["recon"], **tol)
    torch.testing.assert_close(out.nll, ref["err"], rtol=1e-10, atol=0.0)
    torch.testing.assert_close(out.kl, ref["kl"], rtol=1e-9, atol=1e-8)
    torch.testing.assert_close(out.latents, torch.cat([ref["mu_m"], ref["mu_c"]], dim=-1), **tol)
    # the GECO state of the file
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert float(model.geco_beta) == pytest.approx(float(saved["beta"]))
    assert float(model.geco_err_ema) == pytest.approx(float(saved["err_ema"]))


def test_genesis_float32_forward_matches_float64_reference(shared_dir: Path, tmp_path: Path) -> None:
    """The model as loaded (float32, as the official code runs) against the float64 reference."""
    ckpt, flags = fixture_files(shared_dir, "genesis_tetrominoes")
    model = models.load(ckpt, flags=flags)
    x = squares(2, 32)
    with torch.no_grad():
        out = model(x, noise=zero_noise(model, 2))
        ref = genesis_forward(official_state(ckpt), x.double(), model.num_slots)
    torch.testing.assert_close(out.masks.double(), ref["log_m_k"].exp(), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.recon.double(), ref["recon"], rtol=0, atol=1e-5)
    torch.testing.assert_close(out.nll.double(), ref["err"], rtol=1e-6, atol=0)
    torch.testing.assert_close(out.kl.double(), ref["kl"], rtol=1e-5, atol=1e-3)


def _edited(tmp_path: Path, ckpt: Path, flags: Path, *, state_edit=None, flag_edit=None) -> Path:
    """A copy of an official run folder with the state dict and/or flags edited."""
    folder = tmp_path / "edited"
    folder.mkdir()
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    if state_edit is not None:
        state_edit(saved["model_state_dict"])
    torch.save(saved, folder / "model.ckpt-latest", _use_new_zipfile_serialization=False)
    values = json.loads(flags.read_text())
    if flag_edit is not None:
        flag_edit(values)
    (folder / "flags.json").write_text(json.dumps(values))
    return folder / "model.ckpt-latest"


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_flags_beside_or_given(shared_dir: Path, tmp_path: Path) -> None:
    ckpt, flags = fixture_files(shared_dir, "genesis_tetrominoes")
    lone = tmp_path / "lone" / "model.ckpt-1000"
    lone.parent.mkdir()
    lone.symlink_to(ckpt)
    with pytest.raises(CheckpointError) as exc:
        models.load(lone)
    assert "flags.json" in _one_line(exc) and "--flags" in str(exc.value)
    assert models.load(lone, flags=flags).num_slots == 4  # -1 resolved from dataset tetrominoes
    with pytest.raises(CheckpointError) as exc:
        models.load(lone, flags=tmp_path / "nope.json")
    assert "nope.json" in _one_line(exc)


def test_legacy_pixel_coords_are_dropped(shared_dir: Path, tmp_path: Path) -> None:
    ckpt, flags = fixture_files(shared_dir, "genesis_tetrominoes")

    def add_legacy(state: dict) -> None:
        for g in ("g_1", "g_2"):
            state[f"comp_vae.decoder_module.seq.0.pixel_coords.{g}"] = torch.zeros(1, 1, 40, 40)

    reference = models.load(ckpt, flags=flags)
    loaded = models.load(_edited(tmp_path, ckpt, flags, state_edit=add_legacy))
    for key, value in reference.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


@pytest.mark.parametrize(("state_edit", "flag_edit", "words"), [
    (lambda s: s.pop("prior_mlp.0.bias"), None, "missing"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), None, "unknown official GENESIS key 'extra.weight'"),
    (None, lambda f: f.__setitem__("K_steps", 6), "buffer 'std'"),
    (None, lambda f: f.__setitem__("img_size", 64), "differ in shape"),
    (None, lambda f: f.__setitem__("comp_symmetric", True), "comp_symmetric=True is not supported"),
    (None, lambda f: f.__setitem__("enc_norm", "in"), "enc_norm='in' is not supported"),
    (None, lambda f: f.__setitem__("img_size", 48), "img_size=48 is not supported"),
    (None, lambda f: f.__setitem__("model_config", "models/monet_config.py"), "not GENESIS or GENESIS-v2"),
    (None, lambda f: f.__setitem__("dataset", "gqn"), "need a dataset"),
])
def test_problems_are_one_line(shared_dir: Path, tmp_path: Path, state_edit, flag_edit, words: str) -> None:
    ckpt, flags = fixture_files(shared_dir, "genesis_tetrominoes")
    path = _edited(tmp_path, ckpt, flags, state_edit=state_edit, flag_edit=flag_edit)
    with pytest.raises(CheckpointError) as exc:
        models.load(path)
    assert words in _one_line(exc)


def test_pixel_std1_is_the_first_components_sigma(shared_dir: Path, tmp_path: Path) -> None:
    ckpt, flags = fixture_files(shared_dir, "genesis_tetrominoes")

    def std(state: dict) -> None:
        state["std"][..., 0] = 0.5

    path = _edited(tmp_path, ckpt, flags, state_edit=std, flag_edit=lambda f: f.__setitem__("pixel_std1", 0.5))
    model = models.load(path).double()
    x = squares(2, 32).double()
    sd = official_state(path)
    with torch.no_grad():
        out = model(x, noise=zero_noise(model, 2))
        ref = genesis_forward(sd, x, 4)
    assert model.config.sigma_first == pytest.approx(0.5)
    torch.testing.assert_close(out.nll, ref["err"], rtol=1e-10, atol=0.0)


def test_genesisv2_forward_matches_literal_reference(shared_dir: Path, tmp_path: Path) -> None:
    from tests.models.genesis_reference import genesisv2_forward

    ckpt, flags = fixture_files(shared_dir, "genesisv2_multi_dsprites")
    model = models.load(run_folder(tmp_path, ckpt, flags, "model.ckpt-latest")).double()
    assert type(model).__name__ == "GenesisV2" and model.num_slots == 5
    x = squares(2, 64).double()
    noise = zero_noise(model, 2)
    noise["rand_pixel"] = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        out = model(x, noise=noise)
        ref = genesisv2_forward(official_state(ckpt), x, 5, noise["rand_pixel"])
    tol = dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out.masks, ref["log_m_r_k"].exp(), **tol)
    torch.testing.assert_close(out.stages[0].masks, ref["log_m_k"].exp(), **tol)
    torch.testing.assert_close(out.components, ref["x_r_k"], **tol)
    torch.testing.assert_close(out.recon, ref["recon"], **tol)
    torch.testing.assert_close(out.nll, ref["err"], rtol=1e-10, atol=0.0)
    torch.testing.assert_close(out.kl, ref["kl"], rtol=1e-9, atol=1e-8)
    torch.testing.assert_close(out.latents, ref["mu"], **tol)
    # the masks are not all the same: every IC-SBP step picked a seed
    assert (out.stages[0].masks.amax(dim=(2, 3, 4)) > 0.5).sum() >= 4
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert float(model.geco_beta) == pytest.approx(float(saved["beta"]))
    assert model.att_process.log_sigma.dtype == torch.float64


def test_genesisv2_unsupported_flag_is_one_line(shared_dir: Path, tmp_path: Path) -> None:
    ckpt, flags = fixture_files(shared_dir, "genesisv2_multi_dsprites")
    path = _edited(tmp_path, ckpt, flags, flag_edit=lambda f: f.__setitem__("dynamic_K", True))
    with pytest.raises(CheckpointError) as exc:
        models.load(path)
    assert "dynamic_K=True is not supported" in _one_line(exc)

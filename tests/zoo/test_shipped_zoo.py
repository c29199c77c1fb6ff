"""The shipped zoo on data it never saw: every checkpoint loads weights-only, matches its card,
reproduces its card's FG-ARI on other held-out Tetrominoes and beats a random init by a wide
margin; the learned EfficientMORL passes informative symmetry checks and beats a random init on
DCI. These tests pass only on a pipeline whose models have learned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval import zoo

#: what the README and the demo promise
EXPECTED = {"emorl-tetrominoes-geco-s1", "emorl-tetrominoes-geco-s2", "emorl-tetrominoes-geco-s3",
            "emorl-tetrominoes-nogeco-s1", "emorl-tetrominoes-nogeco-s2", "emorl-tetrominoes-nogeco-s3",
            "genesis-s-tetrominoes-s1", "genesis-v2-tetrominoes-s1", "slot-attention-tetrominoes-s1"}
#: a shipped model reproduces its card's FG-ARI within this margin on 64 other held-out images
CARD_MARGIN = 0.08
#: and beats a random init of its own config by at least this much FG-ARI (it has learned)
MIN_GAIN_OVER_RANDOM = 0.3
#: total size budget of the shipped weights
MAX_ZOO_BYTES = 60 * 10**6
#: data seed of these tests: neither the zoo's training data (0) nor the demo's (100)
TEST_SEED = 7


def shipped() -> list[zoo.ZooEntry]:
    folders = [f for f in sorted(zoo.SHIPPED_ROOT.iterdir()) if (f / zoo.CARD_FILE).is_file()]
    return [zoo.ZooEntry(f.name, f, json.loads((f / zoo.CARD_FILE).read_text())) for f in folders]


ENTRIES = shipped()
IDS = [e.name for e in ENTRIES]


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("zoo_data") / "tetro_heldout.h5", "tetrominoes", num=128,
                       seed=TEST_SEED, test_fraction=0.5)


def test_the_documented_models_are_shipped_within_budget() -> None:
    assert EXPECTED <= set(IDS)
    assert sum((e.checkpoint).stat().st_size for e in ENTRIES) <= MAX_ZOO_BYTES


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_checkpoint_is_weights_only_and_matches_its_card(entry: zoo.ZooEntry) -> None:
    ckpt = torch.load(entry.checkpoint, map_location="cpu", weights_only=True)
    assert set(ckpt["extra"]) <= {"train_seconds", "lineage"}  # no optimiser state is shipped
    assert ckpt["model_name"] == entry.card["model"] and ckpt["step"] == entry.card["steps"]
    assert hashlib.sha256(entry.checkpoint.read_bytes()).hexdigest() == entry.card["checkpoint_sha256"]
    assert entry.card["commit"] and entry.card["command"].startswith("emorl-eval train ")
    assert entry.card["evaluation"]["num_images"] == 320
    # the card's preset and the run's --set overrides (in the card's command) name the recipe:
    # building them gives the checkpoint's own config
    assert ckpt["preset"] == entry.card["preset"]
    overrides = json.loads((entry.folder / "config.json").read_text())["train"].get("model_overrides") or {}
    assert all(f"--set {key}=" in entry.card["command"] for key in overrides)
    built = json.loads(json.dumps(models.build(entry.card["model"], entry.card["preset"], **overrides).config_dict()))
    stored = json.loads(json.dumps(ckpt["config"]))
    assert {k: built[k] for k in stored} == stored  # fields added since keep their defaults


def test_renamed_entries_answer_to_their_old_names() -> None:
    for number in (1, 2, 3):
        assert zoo.entry(f"zoo:emorl-tetrominoes-s{number}").name == f"emorl-tetrominoes-nogeco-s{number}"
        assert zoo.resolve(f"zoo:emorl-tetrominoes-s{number}") == zoo.resolve(f"zoo:emorl-tetrominoes-nogeco-s{number}")


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.card["dataset"] == "tetrominoes"],
                         ids=[e.name for e in ENTRIES if e.card["dataset"] == "tetrominoes"])
def test_segments_held_out_tetrominoes(entry: zoo.ZooEntry, held_out: Path) -> None:
    from emorl_eval.data import ObjectsDataset
    from emorl_eval.evaluate import evaluate_model

    dataset = ObjectsDataset(held_out, split="test")
    learned = models.load(f"zoo:{entry.name}")
    fg_ari = evaluate_model(learned, dataset, num=64, progress=False)["ari_fg"].mean()
    assert abs(fg_ari - entry.metric("ari_fg")) < CARD_MARGIN, (fg_ari, entry.metric("ari_fg"))
    torch.manual_seed(0)
    random_init = type(learned)(learned.config).eval()
    baseline = evaluate_model(random_init, dataset, num=64, progress=False)["ari_fg"].mean()
    assert fg_ari > baseline + MIN_GAIN_OVER_RANDOM, (fg_ari, baseline)


def test_symmetry_of_the_learned_emorl_holds_and_is_informative() -> None:
    from emorl_eval.symmetry import check_model

    table = check_model(models.load("zoo:emorl-tetrominoes-nogeco-s1"), batch_size=2, seeds=(0,), num_perms=2)
    assert table["passed"].all(), table[~table["passed"]]
    informative = table["informative"].dropna()
    assert len(informative) and informative.astype(bool).all(), table[["component", "output", "sensitivity"]]


def test_dci_of_the_learned_emorl_beats_a_random_init(held_out: Path, tmp_path: Path) -> None:
    from emorl_eval.dci.pipeline import run_dci
    from emorl_eval.models.checkpoints import save_checkpoint

    learned = models.load("zoo:emorl-tetrominoes-nogeco-s1")
    torch.manual_seed(0)
    random_init = type(learned)(learned.config)
    random_ckpt = save_checkpoint(tmp_path / "random.pt", random_init, step=0)
    result = run_dci([zoo.resolve("zoo:emorl-tetrominoes-nogeco-s1"), random_ckpt], held_out, num=64, n_jobs=1,
                     progress=False)
    runs = result.runs.set_index("checkpoint")
    zoo_row, random_row = runs.iloc[0], runs.iloc[1]
    assert zoo_row["informativeness_test"] > random_row["informativeness_test"]
    assert zoo_row["disentanglement"] > random_row["disentanglement"]


def _seed_pairs() -> list[tuple[zoo.ZooEntry, zoo.ZooEntry]]:
    """(GECO entry, no-GECO entry of the same seed) of the EfficientMORL Tetrominoes zoo."""
    by_name = {e.name: e for e in ENTRIES}
    return [(e, by_name[e.name.replace("-geco-", "-nogeco-")]) for e in ENTRIES
            if e.name.startswith("emorl-tetrominoes-geco-") and e.name.replace("-geco-", "-nogeco-") in by_name]


def test_every_geco_seed_has_its_no_geco_seed() -> None:
    geco = [e.name for e in ENTRIES if e.name.startswith("emorl-tetrominoes-geco-")]
    assert geco, "the zoo ships the GECO recipe"
    assert len(_seed_pairs()) == len(geco)


@pytest.mark.parametrize("pair", _seed_pairs(), ids=[g.name for g, _ in _seed_pairs()])
def test_geco_seed_beats_its_no_geco_seed_on_mse(pair, held_out: Path) -> None:
    """GECO's point (appendix F.2, Table 2): a sharper reconstruction than the same seed without it,
    measured on images neither trained on."""
    from emorl_eval.data import ObjectsDataset
    from emorl_eval.evaluate import evaluate_model

    geco, no_geco = pair
    assert geco.card["preset"] == "tetrominoes_cpu" and no_geco.card["preset"] == "tetrominoes_cpu_no_geco"
    dataset = ObjectsDataset(held_out, split="test")
    mse = {e.name: evaluate_model(models.load(f"zoo:{e.name}"), dataset, num=64, progress=False)["mse"].mean()
           for e in pair}
    assert mse[geco.name] < mse[no_geco.name], mse

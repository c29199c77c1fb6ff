"""The zoo machinery on a temporary zoo: packaging a run, zoo:NAME in every --ckpt, listing,
model cards, and one-line errors for unknown names."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from emorl_eval import zoo
from emorl_eval.zoo.packaging import add_run, train_command
from tests.cli_run import run_cli


def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    return run_cli(args, capsys)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_h5: Path) -> Path:
    """A 3-step Slot Attention run (16x16 tiny preset resized to the 35x35 data)."""
    from emorl_eval.training import resolve_train_config, train

    run = tmp_path_factory.mktemp("runs") / "sa_tiny"
    config = resolve_train_config("slot_attention", tiny_h5, run, "tiny", steps=3, batch_size=4, device="cpu",
                                  progress=False, sets=["image_size=[35,35]", "init=standard"])
    return train(config)


@pytest.fixture
def temp_zoo(tmp_path: Path, monkeypatch, trained_run: Path, tiny_h5: Path) -> Path:
    root = tmp_path / "zoo"
    add_run(trained_run, "sa-test-s0", tiny_h5, num=8, root=root, description="test entry")
    monkeypatch.setenv(zoo.PATH_VARIABLE, str(root))
    monkeypatch.chdir(tmp_path)
    return root


def test_entry_is_weights_only_with_card_and_evaluation(temp_zoo: Path) -> None:
    folder = temp_zoo / "sa-test-s0"
    ckpt = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 3 and "optimizer" not in ckpt["extra"]
    card = json.loads((folder / "card.json").read_text())
    assert card["model"] == "slot_attention" and card["steps"] == 3 and card["evaluation"]["num_images"] == 8
    per_image = (folder / "eval" / "per_image.csv").read_text().splitlines()
    assert len(per_image) == 1 + 8
    # the card quotes the evaluation stored beside it
    import pandas as pd

    df = pd.read_csv(folder / "eval" / "per_image.csv")
    assert card["evaluation"]["ari_fg"] == pytest.approx(df["ari_fg"].mean())
    assert "## " not in (folder / "MODEL_CARD.md").read_text().split("\n", 1)[0]


def test_card_command_reproduces_the_run_config(trained_run: Path) -> None:
    from emorl_eval.training import resolve_train_config

    config = json.loads((trained_run / "config.json").read_text())
    args = shlex.split(train_command(config))
    assert args[:2] == ["emorl-eval", "train"]
    opts: dict[str, list[str]] = {}
    for key, value in zip(args[2::2], args[3::2]):
        opts.setdefault(key, []).append(value)
    again = resolve_train_config(opts["--model"][0], opts["--data"][0], opts["--out"][0], opts["--preset"][0],
                                 sets=opts.get("--set", []), steps=int(opts["--steps"][0]),
                                 seed=int(opts["--seed"][0]), batch_size=int(opts["--batch-size"][0]))
    original = config["train"]
    for key in ("lr", "warmup_steps", "refinement_curriculum", "clip_grad_norm", "model_overrides", "batch_size"):
        assert again.to_dict()[key] == original[key], key


def test_resolve_and_unknown_name(temp_zoo: Path) -> None:
    assert zoo.resolve("zoo:sa-test-s0") == temp_zoo / "sa-test-s0" / "checkpoint.pt"
    assert zoo.resolve("runs/x.pt") == Path("runs/x.pt")
    with pytest.raises(Exception, match=r"unknown zoo model 'nope'; known: .*sa-test-s0"):
        zoo.resolve("zoo:nope")


def test_models_load_accepts_a_zoo_name(temp_zoo: Path) -> None:
    from emorl_eval import models

    model = models.load("zoo:sa-test-s0")
    assert model.model_name == "slot_attention" and model.image_size == (35, 35)


def test_zoo_list_and_show(capsys, temp_zoo: Path) -> None:
    code, out, _ = _run(capsys, ["zoo", "list"])
    assert code == 0 and "zoo:sa-test-s0" in out and "slot_attention" in out
    code, out, _ = _run(capsys, ["zoo", "list", "--markdown"])
    assert code == 0 and out.splitlines()[0].startswith("| name | model / preset | steps |")
    row = next(line for line in out.splitlines() if line.startswith("| `zoo:sa-test-s0` | `slot_attention` / `tiny` | 3 |"))
    assert row.split(" | ")[7] == "n/a"  # Slot Attention has no KL: not 0.0
    code, out, _ = _run(capsys, ["zoo", "list"])
    assert next(line for line in out.splitlines() if "zoo:sa-test-s0" in line).split()[-3] == "n/a"
    code, out, _ = _run(capsys, ["zoo", "show", "zoo:sa-test-s0"])
    assert code == 0 and "# zoo:sa-test-s0" in out and "emorl-eval train" in out


@pytest.mark.parametrize("verb", [["evaluate", "--num", "4"], ["refine-sweep", "--num", "2"], ["dci", "--num", "4"],
                                  ["symmetry"], ["figures", "decompose", "--num", "2"], ["leakage"]])
def test_unknown_zoo_name_is_one_line_in_every_ckpt_command(capsys, temp_zoo: Path, tiny_h5: Path, verb) -> None:
    args = [*verb, "--ckpt", "zoo:nope"] + ([] if verb[0] == "symmetry" else ["--data", str(tiny_h5)])
    code, _, err = _run(capsys, args)
    assert code == 2, err
    assert err.startswith("error: unknown zoo model 'nope'; known: ") and "sa-test-s0" in err
    assert err.count("\n") == 1


def test_evaluate_a_zoo_model_writes_a_local_run_folder(capsys, temp_zoo: Path, tiny_h5: Path) -> None:
    code, out, err = _run(capsys, ["evaluate", "--ckpt", "zoo:sa-test-s0", "--data", str(tiny_h5), "--num", "4"])
    assert code == 0, err
    local = Path("runs/zoo/sa-test-s0")
    assert (local / "eval" / "per_image.csv").is_file() and (local / "config.json").is_file()
    assert (local / "checkpoint.pt").resolve() == (temp_zoo / "sa-test-s0" / "checkpoint.pt").resolve()
    assert not (temp_zoo / "sa-test-s0" / "eval" / "summary.md").read_text() == ""  # shipped eval untouched
    # the local folder is a run folder: ablation-table finds the evaluation
    code, out, err = _run(capsys, ["ablation-table", "runs", "--out", "tables/ablation"])
    assert code == 0, err
    assert "slot_attention" in Path("tables/ablation.md").read_text()


def test_adding_over_an_existing_entry_needs_overwrite(temp_zoo: Path, trained_run: Path, tiny_h5: Path) -> None:
    with pytest.raises(Exception, match="exists; pass --overwrite"):
        add_run(trained_run, "sa-test-s0", tiny_h5, num=4, root=temp_zoo)
    add_run(trained_run, "sa-test-s0", tiny_h5, num=4, root=temp_zoo, overwrite=True)
    assert json.loads((temp_zoo / "sa-test-s0" / "card.json").read_text())["evaluation"]["num_images"] == 4
    assert sorted(p.name for p in (temp_zoo / "sa-test-s0").iterdir()) == sorted(
        ["MODEL_CARD.md", "card.json", "checkpoint.pt", "config.json", "eval", "metrics.csv"])


def test_packaging_reads_the_run_checkpoint_once(tmp_path: Path, trained_run: Path, tiny_h5: Path,
                                                monkeypatch) -> None:
    """A run still training replaces checkpoint_last.pt: a second read could take another step."""
    from emorl_eval.models import checkpoints

    reads: list[Path] = []
    real = checkpoints._torch_load

    def counting(path, *args, **kwargs):
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "_torch_load", counting)
    add_run(trained_run, "read-once", tiny_h5, num=2, root=tmp_path / "zoo")
    assert reads.count(trained_run / "checkpoint_last.pt") == 1


def test_replacing_a_renamed_entry_keeps_its_old_names(temp_zoo: Path, trained_run: Path, tiny_h5: Path) -> None:
    """New weights for a renamed entry (zoo add --overwrite) must not break its old name."""
    card_path = temp_zoo / "sa-test-s0" / "card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "previous_names": ["sa-old-s0"]}))
    assert zoo.resolve("zoo:sa-old-s0").parent.name == "sa-test-s0"
    add_run(trained_run, "sa-test-s0", tiny_h5, num=4, root=temp_zoo, overwrite=True)
    assert json.loads(card_path.read_text())["previous_names"] == ["sa-old-s0"]
    assert zoo.resolve("zoo:sa-old-s0").parent.name == "sa-test-s0"


def test_a_run_s_learning_curve_travels_with_its_entry(tmp_path: Path, trained_run: Path, tiny_h5: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert not (run / "learning_curve.csv").exists()
    add_run(run, "no-curve", tiny_h5, num=2, root=tmp_path / "zoo")
    assert not (tmp_path / "zoo" / "no-curve" / "learning_curve.csv").exists()
    curve = "step,minutes,num,ari_fg,ari_all,mse,kl\n3,0.1,2,0.5,0.4,0.01,3.0\n"
    (run / "learning_curve.csv").write_text(curve)
    folder = add_run(run, "with-curve", tiny_h5, num=2, root=tmp_path / "zoo")
    assert (folder / "learning_curve.csv").read_text() == curve
    assert (folder / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()


def test_a_continued_run_carries_its_lineage_into_the_zoo_and_on(tmp_path: Path, trained_run: Path, tiny_h5: Path,
                                                                 monkeypatch) -> None:
    """train --init-from RUN, zoo add: the card names the parent, its sha256 and the cumulative
    steps; a run started from the zoo entry adds its own steps to the same lineage."""
    from emorl_eval.models.checkpoints import file_sha256
    from emorl_eval.training import resolve_train_config, train

    def continued(parent: str, out: Path, steps: int) -> Path:
        return train(resolve_train_config("slot_attention", tiny_h5, out, "tiny", steps=steps, batch_size=4,
                                          device="cpu", progress=False, init_from=parent,
                                          sets=["image_size=[35,35]", "init=standard"]))

    child = continued(str(trained_run), tmp_path / "child", 5)
    root = tmp_path / "zoo"
    folder = add_run(child, "sa-child-s0", tiny_h5, num=8, root=root)
    card = json.loads((folder / "card.json").read_text())
    assert card["steps"] == 5 and card["cumulative_steps"] == 5
    assert card["lineage"]["parent"] == str(trained_run) and card["lineage"]["parent_steps"] == 3
    assert card["lineage"]["parent_sha256"] == file_sha256(trained_run / "checkpoint_last.pt")
    assert f"--init-from {trained_run}" in card["command"]
    assert "started from" in (folder / "MODEL_CARD.md").read_text()
    assert "matched coverage" in (folder / "MODEL_CARD.md").read_text()

    monkeypatch.setenv(zoo.PATH_VARIABLE, str(root))
    grandchild = continued("zoo:sa-child-s0", tmp_path / "grandchild", 7)
    lineage = torch.load(grandchild / "checkpoint_last.pt", weights_only=True)["extra"]["lineage"]
    assert lineage["parent"] == "zoo:sa-child-s0" and lineage["cumulative_steps"] == 7
    assert [a["parent"] for a in lineage["ancestors"]] == [str(trained_run)]


def test_a_run_started_from_some_modules_says_so_on_its_card(tmp_path: Path, trained_run: Path,
                                                              tiny_h5: Path) -> None:
    """train --init-from RUN --init-modules encoder, zoo add: the card's command repeats
    --init-modules (not as a --set) and MODEL_CARD.md names the modules taken."""
    from emorl_eval.training import resolve_train_config, train

    child = train(resolve_train_config("slot_attention", tiny_h5, tmp_path / "child", "tiny", steps=2, batch_size=4,
                                       device="cpu", progress=False, init_from=str(trained_run),
                                       init_modules=["encoder"], sets=["image_size=[35,35]", "init=standard"]))
    folder = add_run(child, "sa-partial-s0", tiny_h5, num=4, root=tmp_path / "zoo")
    card = json.loads((folder / "card.json").read_text())
    args = shlex.split(card["command"])
    assert args[args.index("--init-modules") + 1] == "encoder"
    assert not any(a.startswith("init_modules=") for a in args)
    assert card["cumulative_steps"] == 3 + 2 and card["lineage"]["init_modules"] == ["encoder"]
    assert f"started from | modules `encoder` of `{trained_run}` at step 3" in (folder / "MODEL_CARD.md").read_text()


def test_packaging_an_earlier_step_of_a_run(tmp_path: Path, tiny_h5: Path, capsys) -> None:
    """zoo add --step N: the weights of checkpoint_<N>.pt, a card of step N, logs cut at N."""
    from emorl_eval.training import resolve_train_config, train

    run = train(resolve_train_config("slot_attention", tiny_h5, tmp_path / "run", "tiny", steps=4, batch_size=4,
                                     device="cpu", progress=False, log_every=1, ckpt_every=2,
                                     sets=["image_size=[35,35]", "init=standard"]))
    (run / "learning_curve.csv").write_text("step,ari_fg\n2,0.1\n4,0.2\n")
    code, out, err = _run(capsys, ["zoo", "add", str(run), "--name", "at-2", "--data", str(tiny_h5), "--num", "2",
                                   "--zoo-dir", str(tmp_path / "zoo"), "--step", "2"])
    assert code == 0, err
    folder = tmp_path / "zoo" / "at-2"
    card = json.loads((folder / "card.json").read_text())
    assert card["steps"] == 2 and "--steps 2" in card["command"]
    packaged = torch.load(folder / "checkpoint.pt", weights_only=True)
    source = torch.load(run / "checkpoint_0000002.pt", weights_only=True)
    assert packaged["step"] == 2
    assert all(torch.equal(packaged["state_dict"][k], source["state_dict"][k]) for k in source["state_dict"])
    assert [int(line.split(",")[0]) for line in (folder / "metrics.csv").read_text().splitlines()[1:]] == [1, 2]
    assert (folder / "learning_curve.csv").read_text() == "step,ari_fg\n2,0.1\n"

    code, _, err = _run(capsys, ["zoo", "add", str(run), "--name", "at-3", "--data", str(tiny_h5), "--num", "2",
                                 "--zoo-dir", str(tmp_path / "zoo"), "--step", "3"])
    assert code != 0 and "no checkpoint_0000003.pt; the run has 2 step checkpoints, the latest checkpoint_0000004.pt" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "zoo" / "at-3").exists()


def test_zoo_list_counts_the_minutes_of_the_whole_lineage() -> None:
    """Steps continue from a parent's, so the minutes shown beside them include the parent's."""
    from emorl_eval.commands.zoo import lineage_minutes

    assert lineage_minutes({"train_minutes": 5.6, "cumulative_train_minutes": 78.48}) == 78.5
    assert lineage_minutes({"train_minutes": 60.04}) == 60.0

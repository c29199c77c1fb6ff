"""TrainConfig resolution: preset defaults, explicit options, --set coercion and errors."""

from __future__ import annotations

import pytest

from emorl_eval.errors import ConfigError
from emorl_eval.training.config import TrainConfig, coerce_value, parse_set_options, resolve_train_config


def _resolve(sets=(), **options) -> TrainConfig:
    return resolve_train_config("tiny", "d.h5", "runs/x", "small", sets=sets, **options)


def test_preset_training_defaults_are_used(tiny) -> None:
    cfg = _resolve()
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.warmup_steps) == (8, 4, 1e-2, 2)
    assert cfg.refinement_curriculum == [[-1, 2], [4, 1]]
    assert cfg.model_overrides == {}


def test_options_override_defaults_and_sets_override_options(tiny) -> None:
    cfg = _resolve(steps=50, batch_size=None, sets=["steps=2e2", "warmup_steps=0"])
    assert cfg.steps == 200 and cfg.batch_size == 4 and cfg.warmup_steps == 0


def test_set_coerces_to_field_types(tiny) -> None:
    cfg = _resolve(sets=[
        "lr=3e-4", "bf16=true", "clip_grad_norm=none", "refinement_curriculum=[[0,3],[100,1]]",
        "num_slots=5", "image_size=[8,8]", "model.noise=0",
    ])
    assert cfg.lr == 3e-4 and cfg.bf16 is True and cfg.clip_grad_norm is None
    assert cfg.refinement_curriculum == [[0, 3], [100, 1]]
    assert cfg.model_overrides == {"num_slots": 5, "image_size": (8, 8), "noise": 0.0}
    assert isinstance(cfg.model_overrides["noise"], float)


@pytest.mark.parametrize(
    "item, message",
    [
        ("no_such_key=1", "--set no_such_key: unknown key"),
        ("model.lr=1", "--set model.lr: unknown key"),
        ("train.num_slots=1", "--set train.num_slots: unknown key"),
        ("steps=1.5", "--set steps=1.5: expected a value of type int"),
        ("lr=fast", "--set lr=fast: expected a value of type float"),
        ("bf16=maybe", "--set bf16=maybe: expected a value of type bool"),
        ("refinement_curriculum=3", "expected a value of type list"),
        ("steps", "--set 'steps': expected key=value"),
        ("steps=0", "steps=0: must be >= 1"),
        ("refinement_curriculum=[[5,1],[0,3]]", "steps must be increasing"),
    ],
)
def test_bad_set_is_a_one_line_config_error(tiny, item: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _resolve(sets=[item])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_preset_and_model(tiny) -> None:
    with pytest.raises(ConfigError, match="preset"):
        resolve_train_config("tiny", "d.h5", "runs/x", "nope")
    with pytest.raises(ConfigError, match="model"):
        resolve_train_config("no_such_model", "d.h5", "runs/x", None)


def test_roundtrip_through_dict(tiny) -> None:
    cfg = _resolve(sets=["num_slots=3"])
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_coerce_value_basics() -> None:
    assert coerce_value("k", "7", 1) == 7
    assert coerce_value("k", "7", 1.0) == 7.0
    assert coerce_value("k", "off", True) is False
    assert coerce_value("k", "abc", "x") == "abc"
    assert coerce_value("k", "[1,[2,3]]", (0,)) == (1, (2, 3))
    assert coerce_value("k", "null", None) is None
    assert coerce_value("k", "12", None) == 12
    assert parse_set_options(["a = 1", "b=x=y"]) == [("a", "1"), ("b", "x=y")]


def test_setting_refinement_steps_drops_the_preset_curriculum(tiny) -> None:
    assert _resolve(sets=["refinement_steps=3"]).refinement_curriculum == []
    cfg = _resolve(sets=["refinement_steps=3", "refinement_curriculum=[[0,2]]"])
    assert cfg.refinement_curriculum == [[0, 2]] and cfg.model_overrides == {"refinement_steps": 3}

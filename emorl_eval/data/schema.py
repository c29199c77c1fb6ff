"""Per-object ground-truth factor specs shared by generators, loaders, DCI and reports."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

FactorKind = Literal["continuous", "discrete"]


@dataclass(frozen=True)
class FactorSpec:
    """One ground-truth factor of an object.

    Attributes:
        name: e.g. ``"x"``, ``"shape"``.
        kind: ``"continuous"`` or ``"discrete"``.
        num_classes: number of classes of a discrete factor (codes ``0..num_classes-1``);
            ``None`` for continuous factors.
    """

    name: str
    kind: FactorKind
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "discrete"):
            raise ValueError(f"factor {self.name!r}: kind must be continuous or discrete, got {self.kind!r}")
        if self.kind == "discrete" and (self.num_classes is None or self.num_classes < 1):
            raise ValueError(f"discrete factor {self.name!r} needs num_classes >= 1")
        if self.kind == "continuous" and self.num_classes is not None:
            raise ValueError(f"continuous factor {self.name!r} must not have num_classes")

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"


def specs_to_json(specs: list[FactorSpec]) -> str:
    """Serialise specs (stored as an HDF5 attribute next to the factors)."""
    return json.dumps([asdict(s) for s in specs])


def specs_from_json(text: str) -> list[FactorSpec]:
    """Inverse of :func:`specs_to_json`."""
    return [FactorSpec(**d) for d in json.loads(text)]

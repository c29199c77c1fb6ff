"""emorl-eval: evaluation and benchmarking for object-centric representation learning.

The library is organised by job (see ``../shared/design/architecture.md``):
``emorl_eval.data`` (built-in datasets, HDF5/TFRecord I/O), ``emorl_eval.metrics``,
``emorl_eval.evaluate``, ``emorl_eval.dci``, ``emorl_eval.symmetry``, ``emorl_eval.training``
and ``emorl_eval.reports``. Models are used only through the registry ``emorl_eval.models``
and the :class:`emorl_eval.models.interface.ObjectCentricModel` interface.

Layout: the model code lives in the repository's top-level ``models/`` folder but is installed as
``emorl_eval.models`` (``[tool.setuptools.package-dir]`` in ``pyproject.toml``), so installing
emorl-eval puts no generic ``models`` or ``cli`` module into site-packages, where it would shadow a
research project's own.
"""

from pathlib import Path as _Path

from emorl_eval.errors import EmorlEvalError

__version__ = "0.1.0"
__all__ = ["EmorlEvalError", "__version__"]

# In a source checkout (this package imported from the repository rather than from an installed
# wheel) ``emorl_eval.models`` is the sibling ``models/`` folder: let the import system find it
# there. An installed wheel has ``emorl_eval/models/`` and never takes this branch.
_here = _Path(__file__).resolve().parent
if not (_here / "models").is_dir() and (_here.parent / "models" / "interface.py").is_file():
    __path__.append(str(_here.parent))  # type: ignore[name-defined]

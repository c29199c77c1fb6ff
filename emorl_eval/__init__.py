"""emorl-eval: evaluation and benchmarking for object-centric representation learning.

The library is organised by job (see ``../shared/design/architecture.md``):
``emorl_eval.data`` (built-in datasets, HDF5/TFRecord I/O), ``emorl_eval.metrics``,
``emorl_eval.evaluate``, ``emorl_eval.dci``, ``emorl_eval.symmetry``, ``emorl_eval.training``
and ``emorl_eval.reports``. Models live in the top-level ``models`` package and are used only
through its registry and the :class:`models.interface.ObjectCentricModel` interface.
"""

from emorl_eval.errors import EmorlEvalError

__version__ = "0.1.0"
__all__ = ["EmorlEvalError", "__version__"]

"""disentanglement-lib without TensorFlow.

The paper computed DCI with disentanglement-lib (Locatello et al., 2019); we score with the same
library's own functions. Its PyPI release 1.5 is a pure-Python wheel whose *metadata* requires
tensorflow-hub and tensorflow-probability==0.7 (which pull TensorFlow), none of which the DCI
formulas use. So it is installed without its dependencies::

    pip install "emorl-eval[dci]"                       # gin-config, absl-py, six
    pip install --no-deps disentanglement-lib==1.5      # the library itself, nothing else

(``.ci/run`` does exactly this.) gin-config is pinned below 0.5: disentanglement-lib 1.5 passes
``blacklist=`` to ``gin.configurable``, which gin-config 0.5 removed (0.4 accepts it and logs a
deprecation warning). The modules we need,
``disentanglement_lib.evaluation.metrics.{dci,utils}``, execute ``import gin.tf`` at import time;
``gin.tf`` (from gin-config) imports TensorFlow, but the two modules only use names of the plain
``gin`` package (``gin.configurable``, ``gin.REQUIRED``). :func:`dlib_modules` therefore puts an
empty stand-in module under ``sys.modules["gin.tf"]`` for the duration of that one import and
removes it afterwards (restoring whatever was there), so nothing outside the import changes:
``gin.tf`` is not importable-by-accident afterwards, ``gin`` gets no ``tf`` attribute, and
TensorFlow is never imported. gin-config 0.4's deprecation messages go through the root logger's
``logging.warning``, which would call ``logging.basicConfig()`` (installing a handler on the
root logger) when it has none; during the import a filter drops exactly those messages and a
``NullHandler`` stands in on an empty root logger, both removed afterwards. ``tests/dci/test_backend.py`` checks this in a fresh interpreter.
If TensorFlow's ``gin.tf`` was already imported by the caller, it is used as is.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from functools import lru_cache

from emorl_eval.errors import ConfigError

DLIB_VERSION = "1.5"
INSTALL_HINT = (
    f'pip install "emorl-eval[dci]" && pip install --no-deps disentanglement-lib=={DLIB_VERSION}'
)
_MODULES = ("disentanglement_lib.evaluation.metrics.dci", "disentanglement_lib.evaluation.metrics.utils")


class _DropGinDeprecation(logging.Filter):
    """Drops gin-config 0.4's 'Argument blacklist is deprecated' messages (one per decorator)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is deprecated. Please use" not in str(record.msg)


@lru_cache(maxsize=None)
def dlib_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """Import disentanglement-lib's ``dci`` and ``utils`` metric modules without TensorFlow.

    Returns:
        ``(dci, utils)``: ``dci.disentanglement``, ``dci.completeness``,
        ``dci.compute_importance_gbt``, ... and ``utils._histogram_discretize``, ...

    Raises:
        ConfigError: disentanglement-lib or gin-config / absl-py is not installed.
    """
    try:
        import gin  # noqa: F401  (gin-config; the plain package does not import TensorFlow)
    except ImportError as err:
        raise ConfigError(f"DCI needs gin-config ({err}); install with: {INSTALL_HINT}") from None

    stand_in = None
    had_tf_attr = hasattr(gin, "tf")
    if "gin.tf" not in sys.modules:
        stand_in = types.ModuleType("gin.tf", "emorl-eval stand-in for gin.tf during one import")
        sys.modules["gin.tf"] = stand_in
    root = logging.getLogger()
    quiet = _DropGinDeprecation()
    placeholder = logging.NullHandler() if not root.handlers else None
    root.addFilter(quiet)
    if placeholder is not None:
        root.addHandler(placeholder)
    try:
        return tuple(importlib.import_module(name) for name in _MODULES)  # type: ignore[return-value]
    except ImportError as err:
        raise ConfigError(
            f"DCI needs disentanglement-lib {DLIB_VERSION} ({err}); install with: {INSTALL_HINT}"
        ) from None
    finally:
        root.removeFilter(quiet)
        if placeholder is not None:
            root.removeHandler(placeholder)
        if stand_in is not None:
            if sys.modules.get("gin.tf") is stand_in:
                del sys.modules["gin.tf"]
            # `import gin.tf` binds no attribute for a module found in sys.modules; be sure anyway
            if not had_tf_attr and getattr(gin, "tf", None) is stand_in:
                delattr(gin, "tf")

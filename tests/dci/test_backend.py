"""disentanglement-lib is importable without TensorFlow and the import leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from emorl_eval.dci.backend import dlib_modules

REPO = Path(__file__).resolve().parents[2]

_PROBE = r"""
import json, logging, sys
root = logging.getLogger()
before = dict(handlers=list(root.handlers), filters=list(root.filters), cls=logging.getLoggerClass())
from emorl_eval.dci.backend import dlib_modules
dci, utils = dlib_modules()
import gin
print(json.dumps(dict(
    gin_tf_in_modules="gin.tf" in sys.modules,
    gin_has_tf=hasattr(gin, "tf"),
    tensorflow_imported=any(m == "tensorflow" or m.startswith("tensorflow.") for m in sys.modules),
    root_handlers_same=root.handlers == before["handlers"],
    root_filters_same=root.filters == before["filters"],
    logger_class_same=logging.getLoggerClass() is before["cls"],
    has_functions=all(hasattr(dci, f) for f in ("disentanglement", "completeness",
        "disentanglement_per_code", "completeness_per_factor", "compute_importance_gbt"))
        and hasattr(utils, "_histogram_discretize"),
)))
"""


def test_import_leaves_no_trace_in_a_fresh_interpreter() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {
        "gin_tf_in_modules": False,
        "gin_has_tf": False,
        "tensorflow_imported": False,
        "root_handlers_same": True,
        "root_filters_same": True,
        "logger_class_same": True,
        "has_functions": True,
    }
    assert "deprecated" not in out.stderr  # gin-config 0.4's blacklist warnings are dropped


def test_library_functions_work_on_known_matrices() -> None:
    dci, utils = dlib_modules()
    assert dci.disentanglement(np.eye(4)) > 1 - 1e-8
    assert dci.completeness(np.eye(4)) > 1 - 1e-8
    assert abs(dci.disentanglement(np.ones((4, 4)))) < 1e-8  # every code explains every factor
    binned = utils._histogram_discretize(np.linspace(0, 1, 11)[None], num_bins=5)
    np.testing.assert_array_equal(binned[0], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5])

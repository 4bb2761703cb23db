"""The cross-checks against PyTorch, JAX and autograd run only in ``nox -s crosscheck``.

They need the ``crosscheck`` dependency group (torch, jax, autograd), which the default test
session does not install; the crosscheck session sets ``TWOLAYER_CROSSCHECK=1``, and without it
these files are not collected at all (rather than skipped test by test).
"""

import os

collect_ignore_glob: list[str] = (
    [] if os.environ.get("TWOLAYER_CROSSCHECK") == "1" else ["test_*.py", "engines.py"]
)

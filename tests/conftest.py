"""Hypothesis profiles for the suite, chosen by ``TWOLAYER_HYPOTHESIS_PROFILE`` (default ``dev``).

- ``dev``: 100 examples a property, random, for quick local runs.
- ``ci``: 300 examples, derandomized (the same cases on every run), as nox's ``tests`` runs.
- ``thorough``: 10,000 examples, derandomized, for a deliberate long run of the properties.
- ``mutation``: few examples, derandomized, no shrinking, for mutation testing.

No deadline in any: run-time shape checking (jaxtyping + beartype) makes timings noisy.
"""

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, Phase, settings

# This file must not import twolayer (nor shared_runs, which does) at import time: jaxtyping
# 0.2.x installs its import hook for --jaxtyping-packages=twolayer in pytest_configure, after the
# initial conftest files are loaded, and refuses to run if twolayer is already imported (the
# ``lowest`` session tests that version). The fixtures below import it when first used.
if TYPE_CHECKING:
    from shared_runs import SeedRun

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "mutation",
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("TWOLAYER_HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests marked ``acceptance`` unless ``TWOLAYER_ACCEPTANCE=1``.

    Each is a full default judge run (tens of seconds); their matrix runs in ``nox -s
    acceptance``, and the default suite judges one case of each family (see
    tests/test_kernel_tails.py). Deselected, not skipped: they are not part of the default run.
    """
    if os.environ.get("TWOLAYER_ACCEPTANCE") == "1":
        return
    deselected = [item for item in items if item.get_closest_marker("acceptance")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("acceptance")]


@pytest.fixture(scope="session")
def seed_run() -> "SeedRun":
    """``train``'s run of the seed (500 steps at the seed's dims), computed once a session.

    test_seed_fidelity.py compares it with the notebook's loop and test_cli.py with what
    ``twolayer train`` prints; each used to run the 500 steps itself.
    """
    import shared_runs  # noqa: PLC0415 (late: see the imports above)

    return shared_runs.seed_run()


@pytest.fixture(scope="session")
def reference_results() -> bytes:
    """The oracle's results document for the whole frozen suite (JSON bytes), built once.

    Writing it spells about 700,000 floats one call at a time under the run-time type checks;
    test_conformance.py judges it through the API, test_cli.py through ``twolayer check``, in
    this interpreter and in one without hypothesis.
    """
    import shared_runs  # noqa: PLC0415 (late: see the imports above)

    return shared_runs.reference_results()

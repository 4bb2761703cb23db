"""The pytest plugin of twolayer: each frozen case of the judge as its own test id.

A test that asks for the fixture ``twolayer_case`` runs once per case of the frozen suite that
applies to its arithmetic, ``twolayer_trajectory`` once per frozen trajectory; the test ids name
the case and its flags (``case1-seed_dims``, ``case9-single_sample-hidden_one-d_out_one``), so
that ``pytest -k seed_dims`` picks cases by what they test::

    import pytest
    from twolayer.testing import assert_case_conforms

    @pytest.mark.twolayer(arithmetic="float32")  # only the cases on float32's grid and range
    def test_my_step(twolayer_case):
        assert_case_conforms(my_step, twolayer_case)

Without the marker the arithmetic is float64, to which every case applies. Tests that ask for
neither fixture are left alone.

This module is outside the ``twolayer`` package and imports it only when a test asks for a
fixture: pytest imports its plugins before anything else, and a package imported that early is
beyond the reach of an import hook such as jaxtyping's ``--jaxtyping-packages=twolayer,...``.
"""

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from twolayer.testing import FrozenCase, FrozenTrajectory

MARKER = "twolayer"
CASE_FIXTURE = "twolayer_case"
TRAJECTORY_FIXTURE = "twolayer_trajectory"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(arithmetic): the arithmetic that the implementation under test claims "
        f"(float64, float32, tf32 or bf16); {CASE_FIXTURE} and {TRAJECTORY_FIXTURE} then run "
        "the frozen cases that apply to it only",
    )


def _arithmetic(metafunc: pytest.Metafunc) -> str:
    """The arithmetic named by the test's closest ``twolayer`` marker (default ``"float64"``)."""
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return "float64"
    if marker.args or set(marker.kwargs) - {"arithmetic"}:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: write @pytest.mark.{MARKER}(arithmetic='float32'); "
            f"got args {marker.args!r} and keywords {sorted(marker.kwargs)!r}"
        )
    arithmetic = marker.kwargs.get("arithmetic", "float64")
    if not isinstance(arithmetic, str):
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: the arithmetic of @pytest.mark.{MARKER} is a name "
            f"such as 'float32'; got {arithmetic!r}"
        )
    return arithmetic


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``twolayer_case`` and ``twolayer_trajectory`` over the cases that apply."""
    wanted = [n for n in (CASE_FIXTURE, TRAJECTORY_FIXTURE) if n in metafunc.fixturenames]
    if not wanted:
        return
    from twolayer import testing  # noqa: PLC0415 (late: see the module's docstring)

    arithmetic = _arithmetic(metafunc)
    try:
        cases = testing.frozen_cases(arithmetic)
        trajectories = testing.frozen_trajectories(arithmetic)
    except ValueError as error:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {error}") from None
    if CASE_FIXTURE in wanted:
        metafunc.parametrize(
            CASE_FIXTURE, cases, indirect=True, ids=[frozen.test_id for frozen in cases]
        )
    if TRAJECTORY_FIXTURE in wanted:
        metafunc.parametrize(
            TRAJECTORY_FIXTURE,
            trajectories,
            indirect=True,
            ids=[frozen.test_id for frozen in trajectories],
        )


@pytest.fixture
def twolayer_case(request: pytest.FixtureRequest) -> "FrozenCase":
    """One case of the frozen suite that applies to the test's arithmetic, one test id each.

    Hand it to ``twolayer.testing.assert_case_conforms``; ``.case`` holds its inputs.
    """
    frozen: FrozenCase = request.param
    return frozen


@pytest.fixture
def twolayer_trajectory(request: pytest.FixtureRequest) -> "FrozenTrajectory":
    """One frozen trajectory that applies to the test's arithmetic, one test id each.

    Hand it to ``twolayer.testing.assert_trajectory_conforms``.
    """
    frozen: FrozenTrajectory = request.param
    return frozen

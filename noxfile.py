"""Every check of twolayer is a nox session: ``nox`` runs the default ones.

Default: lint, typecheck, tests, docs, crosscheck. On request: bench, mutation.

Sessions install the project and its PEP 735 dependency groups from ``pyproject.toml``; uv is the
backend where it is installed, virtualenv otherwise.
"""

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "crosscheck"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def _install_groups(session: nox.Session, *groups: str) -> None:
    """Install the project (not editable) and the named dependency groups."""
    requirements: list[str] = []
    for group in groups:
        requirements += nox.project.dependency_groups(PYPROJECT, group)
    session.install(".", *requirements)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests and this file (settings in pyproject.toml)."""
    _install_groups(session, "typecheck")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """pytest with hypothesis's ``ci`` profile (more examples, derandomized).

    The doctests and tests/test_docs.py run in the ``docs`` session; tests/crosscheck in
    ``crosscheck`` (it needs torch, JAX and autograd).
    """
    _install_groups(session, "test")
    session.run(
        "pytest",
        "tests",
        "--ignore=tests/test_docs.py",
        *session.posargs,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": "ci"},
    )


@nox.session(python=PYTHON, venv_backend="virtualenv")
def bench(session: nox.Session) -> None:
    """Time train against the seed's own loop (benchmarks/bench.py); JSON to benchmarks/results.

    Not in the default run. ``nox -s bench -- --engines`` also installs torch and jax (the
    ``crosscheck`` group) for their rows; any other arguments go to bench.py (``--help``).
    pip (virtualenv), not uv, for the same reason as ``crosscheck``: the pinned CPU torch.
    """
    args = list(session.posargs)
    groups = ["bench"]
    if "--engines" in args:
        args.remove("--engines")
        groups.append("crosscheck")
    _install_groups(session, *groups)
    session.run("python", "benchmarks/bench.py", *args)


@nox.session(python=PYTHON, venv_backend="virtualenv")
def crosscheck(session: nox.Session) -> None:
    """The judge against PyTorch, JAX and HIPS autograd (tests/crosscheck), typed and run.

    pip (virtualenv), not uv: torch is pinned to the CPU wheel that these machines hold, which
    pip finds through its configuration; uv would fetch a CUDA build of several GB. mypy checks
    these files here, where torch and jax are installed (the typecheck session excludes them).
    """
    _install_groups(session, "crosscheck", "typecheck")
    session.run(
        "mypy",
        "tests/crosscheck/conftest.py",
        "tests/crosscheck/engines.py",
        "tests/crosscheck/test_engines.py",
    )
    session.run(
        "pytest",
        "tests/crosscheck",
        *session.posargs,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": "ci", "TWOLAYER_CROSSCHECK": "1"},
    )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The docs stay true: the package's doctests, and tests/test_docs.py.

    test_docs.py checks every relative link, every code line that docs/derivation.md quotes,
    every test that the docs cite, and runs the examples of README.md and docs/vectors.md (the
    latter against a freshly written suite, its results judged by check_results).
    """
    _install_groups(session, "docs")
    session.run(
        "pytest",
        "--doctest-modules",
        "--pyargs",
        "twolayer",
        "tests/test_docs.py",
        *session.posargs,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": "ci"},
    )


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """mutmut over network, training, exact, bounds and gradcheck; fails on an unexplained survivor.

    Not in the default run. mutation/gate.py deletes ``mutants/``, runs mutmut (settings in
    ``[tool.mutmut]`` of pyproject.toml) and fails on a surviving mutant that
    mutation/equivalent.toml does not list with its reason, or on a listed one that no longer
    survives as recorded. One BLAS thread: mutmut already runs one test process per core, and
    threads fighting over the cores made the seed-sized tests 20 times slower.
    """
    _install_groups(session, "mutation")
    session.run(
        "python",
        "mutation/gate.py",
        "--run",
        env={
            "TWOLAYER_HYPOTHESIS_PROFILE": "mutation",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        },
    )

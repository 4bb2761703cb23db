"""Every check of twolayer is a nox session: ``nox`` runs the default ones (lint, typecheck, tests).

Sessions install the project and its PEP 735 dependency groups from ``pyproject.toml``; uv is the
backend where it is installed, virtualenv otherwise.
"""

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
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
    """pytest with hypothesis's ``ci`` profile (more examples, derandomized), doctests included."""
    _install_groups(session, "test")
    session.run(
        "pytest",
        "--doctest-modules",
        "--pyargs",
        "twolayer",
        "tests",
        *session.posargs,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": "ci"},
    )

#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Every check of twolayer is a nox session: ``nox`` runs the default ones.

Default: lint, typecheck, tests (on every supported Python), lowest, docs, crosscheck, package.
On request (``default=False``): bench, mutation, acceptance.

Sessions install the project and its PEP 735 dependency groups from ``pyproject.toml``; uv is the
backend where it is installed, virtualenv otherwise. A supported Python that cannot be found is
an error, not a skip.
"""

import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"  # nox.main, for the script block above
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"  # the oldest supported Python: the single-Python sessions run on it
PYTHONS = ["3.11", "3.12", "3.13"]  # every supported Python; the classifiers name the same


def _put_pyenv_pythons_on_path() -> None:
    """Put pyenv's interpreters of ``PYTHONS`` on PATH, so that nox finds ``python3.12``.

    pyenv's shims run only the versions that its configuration selects (one, usually), although
    it holds others under ``$(pyenv root)/versions/X.Y.Z``. For each supported minor version that
    pyenv holds, the newest patch release's ``bin`` goes on PATH, ahead of the shims; nothing
    changes where pyenv is absent, and a Python found nowhere still fails its session.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found: list[str] = []
    for minor in PYTHONS:
        releases = [
            (int(match.group(1)), path)
            for path in root.glob(f"{minor}.*")
            if (match := re.fullmatch(re.escape(minor) + r"\.(\d+)", path.name))
            and (path / "bin" / f"python{minor}").exists()
        ]
        if releases:
            found.append(str(max(releases)[1] / "bin"))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_pythons_on_path()


def _install_groups(session: nox.Session, *groups: str) -> None:
    """Install the project (not editable) and the named dependency groups."""
    requirements: list[str] = []
    for group in groups:
        requirements += nox.project.dependency_groups(PYPROJECT, group)
    session.install(".", *requirements)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting; scientific-python's repo-review of the packaging."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Fails (status 3) on a check that fails; [tool.repo-review] in pyproject.toml argues the
    # ones left out. The GitHub and pre-commit families report "not applicable" here.
    session.run("repo-review", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests and this file (settings in pyproject.toml)."""
    _install_groups(session, "typecheck")
    session.run("mypy")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """pytest with hypothesis's ``ci`` profile (more examples, derandomized), on every Python.

    Each Python gets the newest dependency versions that pyproject.toml allows on it (numpy 2.5
    and newer exist for 3.12 and up only). The doctests and tests/test_docs.py run in the ``docs``
    session; tests/crosscheck in ``crosscheck`` (it needs torch, JAX and autograd).
    """
    _install_groups(session, "test")
    _pytest(session)


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The tests with the lowest versions that pyproject.toml allows for direct dependencies.

    uv's ``--resolution lowest-direct``: numpy, jaxtyping and hypothesis at their lower bounds
    (and the test group's at theirs), everything they pull in at its newest, on the oldest
    supported Python. A bound that is not true fails here. uv is installed into the session
    (pip has no such resolution), so a plain ``pip install nox`` runs this session too.
    """
    session.install("uv")
    requirements = nox.project.dependency_groups(PYPROJECT, "test")
    python = Path(session.bin) / "python"
    session.run(
        "uv",
        "pip",
        "install",
        "--python",
        str(python),
        "--resolution",
        "lowest-direct",
        ".",
        *requirements,
    )
    session.run("python", "-c", _PRINT_VERSIONS, *_DIRECT)
    _pytest(session)


def _names(requirements: list[str]) -> list[str]:
    """The distribution names of PEP 508 requirement strings (``"numpy>=1.26"`` -> ``numpy``)."""
    return [re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0] for requirement in requirements]


# The direct dependencies, whose versions the ``lowest`` session prints before it tests them.
_REQUIREMENTS = [
    *PYPROJECT["project"]["dependencies"],
    *nox.project.dependency_groups(PYPROJECT, "test"),
]
_DIRECT = list(dict.fromkeys(_names(_REQUIREMENTS)))  # each name once, in order
_PRINT_VERSIONS = (
    "import sys, importlib.metadata as m; "
    "print(' '.join(f'{name}=={m.version(name)}' for name in sys.argv[1:]))"
)


def _pytest(session: nox.Session, profile: str = "ci") -> None:
    """pytest over tests/ but test_docs.py (the docs session's) and tests/crosscheck, with the
    hypothesis profile ``profile`` (tests/conftest.py); the ten slowest tests are printed.

    One worker per CPU (pytest-xdist): the suite is mostly pure-Python exact arithmetic, which
    one process runs on one core. ``nox -s tests -- -n 0`` runs it in one process. Each worker
    gets one BLAS thread (``OPENBLAS_NUM_THREADS=1``): with a worker on every core, OpenBLAS's
    own threads only compete with the other workers (795 tests took 324 s with them, 268 s
    without, back to back on two cores). No test depends on the number of threads: the
    bit-for-bit comparisons are made within one process, and the bounds hold for any order.
    """
    session.run(
        "pytest",
        "tests",
        "--ignore=tests/test_docs.py",
        "--numprocesses=auto",
        "--durations=10",
        *session.posargs,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": profile, "OPENBLAS_NUM_THREADS": "1"},
    )


@nox.session(python=PYTHON, default=False)
def thorough(session: nox.Session) -> None:
    """The tests with hypothesis's ``thorough`` profile: 10,000 examples a property, derandomized.

    Not in the default run: a deliberate long run of every property (hours on two cores), for a
    change to the arithmetic or before a release. Pass pytest's arguments to pick tests, e.g.
    ``nox -s thorough -- tests/test_exact_fast.py``.
    """
    _install_groups(session, "test")
    _pytest(session, "thorough")


@nox.session(python=PYTHON, venv_backend="virtualenv", default=False)
def bench(session: nox.Session) -> None:
    """Time train against the seed's own loop, and record the figures that the docs session
    cannot rerun: benchmarks/results/bench.json and figures.json, which the docs quote.

    Not in the default run. ``benchmarks/bench.py`` writes its record to
    ``benchmarks/results/bench.json`` (unless ``--json`` is given), and its worker-process table
    (``--only-isolation``) to ``benchmarks/results/isolation.json``; then
    ``benchmarks/figures.py`` runs the commands whose figures depend on the BLAS or take minutes
    and writes ``benchmarks/results/figures.json``. Update the docs' figures from them
    (``tests/test_docs.py`` fails until they agree). ``nox -s bench -- --engines`` also installs
    torch and jax (the ``crosscheck`` group) for their rows; any other arguments go to bench.py
    (``--help``). pip (virtualenv), not uv, for the same reason as ``crosscheck``: the pinned
    CPU torch.
    """
    args = list(session.posargs)
    groups = ["docs"]  # the hypothesis that the docs' drawn-case figures were made with
    if "--engines" in args:
        args.remove("--engines")
        groups.append("crosscheck")
    if "--json" not in args:
        args += ["--json", "benchmarks/results/bench.json"]
    _install_groups(session, *groups)
    session.run("python", "benchmarks/bench.py", *args)
    if "--only-reference" not in args:  # what the judge's worker process costs, its own record
        isolation = ["--only-isolation", "--json", "benchmarks/results/isolation.json"]
        session.run("python", "benchmarks/bench.py", *isolation)
    session.run("python", "benchmarks/figures.py")


@nox.session(python=PYTHON, default=False)
def acceptance(session: nox.Session) -> None:
    """Issue 12's acceptance matrix: the judge's default run against every tiled kernel.

    Not in the default run (about ten minutes on two cores): each test is a full
    ``check_implementation`` of one kernel of ``twolayer.zoo.blocked_step``, mistaken (every tile
    width, chunk and dtype) or correct. The default tests judge one kernel of each mistake.
    """
    _install_groups(session, "test")
    session.run(
        "pytest",
        "tests/test_kernel_tails.py",
        "-m",
        "acceptance",
        "--numprocesses=auto",
        *session.posargs,
        env={
            "TWOLAYER_HYPOTHESIS_PROFILE": "ci",
            "TWOLAYER_ACCEPTANCE": "1",
            "OPENBLAS_NUM_THREADS": "1",  # one worker a core, as in _pytest
        },
    )


@nox.session(python=PYTHON, venv_backend="virtualenv")
def crosscheck(session: nox.Session) -> None:
    """The judge against PyTorch, JAX and HIPS autograd (tests/crosscheck), typed and run.

    pip (virtualenv), not uv: torch is pinned to the CPU wheel that these machines hold, which
    pip finds through its configuration; uv would fetch a CUDA build of several GB. mypy checks
    these files here, where torch and jax are installed (the typecheck session excludes them).
    ``nox -s crosscheck -- --record`` (the whole suite, no other arguments) also writes its
    counts, date and machine to ``benchmarks/results/crosscheck.json``, the record that README.md
    quotes. Only on request: the default run (CI's) must not rewrite a committed record, whose
    date the docs session holds the README to.
    """
    args = list(session.posargs)
    record = "--record" in args
    if record:
        args.remove("--record")
        if args:
            session.error("--record takes the whole suite: no other arguments")
    _install_groups(session, "crosscheck", "typecheck")
    session.run(
        "mypy",
        "tests/crosscheck/conftest.py",
        "tests/crosscheck/engines.py",
        "tests/crosscheck/test_engines.py",
        "tests/crosscheck/loops.py",
        "tests/crosscheck/test_loops.py",
    )
    report = Path(session.create_tmp()) / "crosscheck.xml"
    session.run(
        "pytest",
        "tests/crosscheck",
        f"--junitxml={report}",
        *args,
        env={"TWOLAYER_HYPOTHESIS_PROFILE": "ci", "TWOLAYER_CROSSCHECK": "1"},
    )
    if record:  # the whole run: its counts are the record that the README quotes
        command = "nox -s crosscheck -- --record"
        session.run("python", "benchmarks/records.py", "junit", "crosscheck", command, report)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The docs stay true: the package's doctests, and tests/test_docs.py.

    test_docs.py checks every relative link, every code line that docs/derivation.md quotes,
    every test that the docs cite, and runs the examples of README.md and docs/vectors.md (the
    latter against a freshly written suite, its results judged by check_results). Every figure
    that docs/figures.toml lists is held to its source: the cheap commands that print the same on
    every machine are rerun; the rest are read from the records in benchmarks/results/.
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


@nox.session(python=PYTHON, default=False)
def mutation(session: nox.Session) -> None:
    """mutmut over network, training, exact, bounds, gradcheck and shapes; fails on an unargued one.

    Not in the default run. mutation/gate.py deletes ``mutants/``, runs mutmut (settings in
    ``[tool.mutmut]`` of pyproject.toml) and fails on a surviving mutant that
    mutation/equivalent.toml does not list with its reason, or on a listed one that no longer
    survives as recorded; it writes the counts to benchmarks/results/mutation.json, the record
    that the docs quote. One BLAS thread: mutmut already runs one test process per core, and
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


# Tracked files that the sdist leaves out, on purpose (MANIFEST.in says the same).
SDIST_EXCLUDED = (
    ".ci/",  # this repository's CI script: it runs `nox`, which the sdist holds
    ".gitignore",  # git's, not the project's
)
# Files that the build writes into the sdist, beside the tracked ones.
SDIST_GENERATED = ("PKG-INFO", "setup.cfg", "src/twolayer.egg-info/")


def _sdist_problems(names: list[str], tracked: list[str]) -> list[str]:
    """What is wrong with an sdist's files (their names, in its top folder) against the tracked
    files; none if right."""
    prefix = names[0].split("/", 1)[0] + "/"
    files = {name.removeprefix(prefix) for name in names}
    should_ship = {path for path in tracked if not path.startswith(SDIST_EXCLUDED)}
    missing = sorted(should_ship - files)
    stray = sorted(path for path in files - should_ship if not path.startswith(SDIST_GENERATED))
    return [f"missing from the sdist: {path}" for path in missing] + [
        f"in the sdist but not tracked by git: {path}" for path in stray
    ]


def _wheel_problems(names: list[str], tracked: list[str]) -> list[str]:
    """What is wrong with a wheel's member names: it must hold the package (every tracked file
    under src/, ``py.typed`` and the schemas among them), its metadata, and nothing else."""
    package = {path.removeprefix("src/") for path in tracked if path.startswith("src/")}
    required = {
        "twolayer/__init__.py",
        "twolayer/py.typed",
        "twolayer/schemas/results.schema.json",
        "twolayer/schemas/vectors.schema.json",
    }
    files = {name for name in names if not name.endswith("/")}
    metadata = {name for name in files if name.split("/", 1)[0].endswith(".dist-info")}
    problems = [f"missing from the wheel: {path}" for path in sorted(package - files)]
    problems += [f"not in the package: {path}" for path in sorted(required - package)]
    problems += [
        f"in the wheel but not the package: {path}" for path in sorted(files - package - metadata)
    ]
    return problems


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel; check what each holds; install the wheel and run it.

    ``python -m build`` builds, from a copy of the files that git tracks, the sdist and then the
    wheel from the sdist (so the sdist builds). The sdist must hold every file that ``git
    ls-files`` lists but ``SDIST_EXCLUDED``, and no other but the build's own
    (``SDIST_GENERATED``): its tests, docs and nox sessions run from it. The wheel holds the
    package (``py.typed`` and the JSON schemas with it) and its metadata: no tests. Then the
    wheel is installed here and ``twolayer --version`` must print the version. About 10 s.
    """
    if not Path(".git").exists():
        session.skip("not a git checkout: no list of tracked files to compare the sdist with")
    session.install("build[uv]")
    tracked = session.run("git", "ls-files", external=True, silent=True)
    if not isinstance(tracked, str):
        session.error("git ls-files printed nothing")
    # Built from a copy of the tracked files, as a fresh clone would be: setuptools also ships
    # whatever an egg-info left in src/ by an earlier build or editable install lists.
    tmp = Path(session.create_tmp())
    tree, dist = tmp / "tree", tmp / "dist"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(dist, ignore_errors=True)
    for path in tracked.splitlines():
        if Path(path).is_file():  # a tracked file deleted in the work tree is not copied
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tree / path)
    session.run("python", "-m", "build", "--installer=uv", "--outdir", str(dist), str(tree))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with tarfile.open(sdist) as archive:
        files = [member.name for member in archive.getmembers() if member.isfile()]
        problems = _sdist_problems(files, tracked.splitlines())
    with zipfile.ZipFile(wheel) as archive:
        problems += _wheel_problems(archive.namelist(), tracked.splitlines())
    if problems:
        session.error("\n".join(problems))
    session.log(f"{sdist.name} and {wheel.name}: contents as they should be")
    session.install(str(wheel))
    printed = session.run("twolayer", "--version", silent=True)
    version = PYPROJECT["project"]["version"]
    if not isinstance(printed, str) or version not in printed.split():
        session.error(f"twolayer --version printed {printed!r}, not the version {version}")


if __name__ == "__main__":
    nox.main()

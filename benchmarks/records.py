"""Result files for the figures that the docs quote from expensive or machine-dependent runs.

A *record* is one JSON document in ``benchmarks/results/``, committed: the command that made it,
the date, the machine (CPU model, cores, Python, numpy and its BLAS) and the command's results.
The sessions write them (``nox -s bench``: ``bench.json`` and ``figures.json``; ``nox -s
mutation``: ``mutation.json``; ``nox -s crosscheck``: ``crosscheck.json``); README.md and docs/
quote their figures with the date and the machine, and ``tests/test_docs.py`` holds every quoted
figure to its record (``docs/figures.toml`` says which figure comes from where). A record copied
by hand from an earlier run, not written by its session, says so in ``transcribed``.

``python benchmarks/records.py junit NAME COMMAND REPORT.xml`` writes the record ``NAME.json`` of
a pytest run from its JUnit XML report (the crosscheck session's). Not part of the package: it
may print.
"""

import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The distributions whose versions a pytest run's record notes (None where not installed): the
# engines that the crosscheck judges, and hypothesis, which draws its cases.
ENGINES = ("torch", "jax", "jaxlib", "autograd", "hypothesis")


def cpu_model() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``; else what ``platform`` knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def blas() -> str | None:
    """numpy's BLAS as its build configuration names it (``scipy-openblas 0.3.29``), if numpy
    is installed and says; None otherwise."""
    try:
        import numpy as np  # noqa: PLC0415 (a record of a run without numpy has no BLAS)
    except ImportError:
        return None
    try:
        # A dict since numpy 1.25 (the project asks >= 1.26); a key that a build lacks raises.
        info: object = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):
        return None
    if not isinstance(info, dict):
        return None
    name, version = info.get("name"), info.get("version")
    return " ".join(str(part) for part in (name, version) if part) or None


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None where it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, object]:
    """What a timing or a rounding-dependent figure depends on: CPU, cores, Python, numpy, BLAS."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "blas": blas(),
    }


def record(command: str, results: object) -> dict[str, object]:
    """A record of ``command``'s ``results``, dated today (UTC), on this machine."""
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "machine": machine(),
        "results": results,
    }


def write(path: Path, document: dict[str, object]) -> Path:
    """Write ``document`` to ``path`` as indented JSON (a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)
    return path


def junit_summary(report: Path) -> dict[str, object]:
    """The counts and the time of a pytest run from its JUnit XML report (``--junitxml``)."""
    root = ElementTree.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    return {"passed": passed, **totals, "seconds": round(seconds, 1)}


def main(argv: list[str]) -> int:
    """``junit NAME COMMAND REPORT.xml``: write ``RESULTS_DIR/NAME.json``; status 2 on misuse."""
    if len(argv) != 4 or argv[0] != "junit":
        print("usage: python benchmarks/records.py junit NAME COMMAND REPORT.xml", file=sys.stderr)
        return 2
    _, name, command, report = argv
    versions = {engine: version(engine) for engine in ENGINES}
    results = junit_summary(Path(report)) | {"versions": versions}
    path = write(RESULTS_DIR / f"{name}.json", record(command, results))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

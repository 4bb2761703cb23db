"""Gate a ``mutmut run``: every mutant killed, or listed as equivalent with a reason.

``nox -s mutation`` runs ``python mutation/gate.py --run`` from the repository root: it deletes
``mutants/`` (no verdict cached from an older source or suite survives), runs mutmut over the
modules in ``[tool.mutmut] only_mutate`` of ``pyproject.toml``, then judges the results.
Without ``--run`` it judges the results already in ``mutants/`` (after ``mutmut run NAME``).
It fails (status 1) when

- a mutant survived (or no test reached it, or it was not run) and is not listed in
  ``mutation/equivalent.toml``;
- a listed mutant no longer exists, or was killed, or now changes other lines than the ones
  recorded with it (mutmut numbers mutants by position, so an edit of the source can give a
  listed name to a different mutant; the recorded lines make the entry name one mutant only).

A timeout counts as a kill: the tests did not pass within mutmut's limit (15 times their clean
CPU time); each is printed, so that a slow survivor cannot hide among them.

After ``--run`` it writes the counts, with the commit, the date, the machine and the time that
the run took, to ``benchmarks/results/mutation.json`` (``benchmarks/records.py``), the record
that README.md and docs/verification.md quote (``tests/test_docs.py`` holds them to it).
"""

import argparse
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

EQUIVALENTS = Path(__file__).with_name("equivalent.toml")
PYPROJECT = Path("pyproject.toml")
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"  # records.py: the record

# mutmut's words for the outcome of a mutant (``mutmut results``).
KILLED = frozenset({"killed", "caught by type check"})
TIMEOUT = "timeout"
SURVIVED = "survived"
DIFFS_SHOWN = 10  # per module; `mutmut show NAME` prints any other


@dataclass(frozen=True)
class Equivalent:
    """A reviewed mutant: the lines it replaces, the lines it puts there, and why they agree."""

    original: str
    mutant: str
    reason: str


def mutmut(*args: str) -> str:
    """Run ``python -m mutmut ARGS`` in this interpreter; return its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"mutmut {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def modules() -> list[str]:
    """The dotted names of the mutated modules, from ``[tool.mutmut] only_mutate``."""
    paths = tomllib.loads(PYPROJECT.read_text())["tool"]["mutmut"]["only_mutate"]
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise TypeError("[tool.mutmut] only_mutate must be a list of paths")
    return [".".join(Path(path).relative_to("src").with_suffix("").parts) for path in paths]


def statuses() -> dict[str, str]:
    """Every mutant's status: ``{"twolayer.network.x_forward__mutmut_3": "killed", ...}``."""
    result: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, separator, status = line.strip().partition(": ")
        if separator:
            result[name] = status
    return result


def changed_lines(name: str) -> tuple[str, str]:
    """The lines that mutant ``name`` removes and adds, each stripped, joined by newlines."""
    removed: list[str] = []
    added: list[str] = []
    for line in mutmut("show", name).splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return "\n".join(removed), "\n".join(added)


def equivalents() -> dict[str, Equivalent]:
    """Read ``mutation/equivalent.toml``: one table per mutant name."""
    result: dict[str, Equivalent] = {}
    for name, entry in tomllib.loads(EQUIVALENTS.read_text()).items():
        fields = {key: entry.get(key) for key in ("original", "mutant", "reason")}
        if not all(isinstance(value, str) and value for value in fields.values()):
            raise ValueError(f"{EQUIVALENTS}: [{name!r}] needs original, mutant and reason")
        result[name] = Equivalent(
            str(fields["original"]), str(fields["mutant"]), str(fields["reason"])
        )
    return result


def module_of(name: str, names: list[str]) -> str:
    """The module that mutant ``name`` belongs to (its name starts with the module's)."""
    return next((module for module in names if name.startswith(f"{module}.")), "?")


def judge(
    found: dict[str, str], listed: dict[str, Equivalent], names: list[str]
) -> tuple[dict[str, Counter[str]], list[str]]:
    """Count the outcomes per module and list the problems (the module docstring's rules)."""
    problems: list[str] = []
    counts: dict[str, Counter[str]] = {module: Counter() for module in [*names, "?"]}
    for name, status in sorted(found.items()):
        module = module_of(name, names)
        if status in KILLED:
            counts[module]["killed"] += 1
        elif status == TIMEOUT:
            counts[module]["timeout"] += 1
            print(f"timeout (counted as killed): {name}")
        elif status == SURVIVED and name in listed:
            counts[module]["equivalent"] += 1
        else:
            counts[module]["survived" if status == SURVIVED else "other"] += 1
            shown = sum(counts[module][column] for column in ("survived", "other"))
            # A diff costs a mutmut process (about a second): the first few per module only.
            diff = f"\n{mutmut('show', name)}" if shown <= DIFFS_SHOWN else ""
            problems.append(f"{name}: {status}, not listed as equivalent{diff}")
    for name, entry in sorted(listed.items()):
        outcome = found.get(name)
        if outcome is None:
            problems.append(f"{name} is listed as equivalent but does not exist: remove it")
        elif outcome != SURVIVED:
            problems.append(f"{name} is listed as equivalent but is {outcome}: remove it")
        elif changed_lines(name) != (entry.original, entry.mutant):
            problems.append(
                f"{name} is listed as equivalent but now changes other lines (the source moved):"
                f" review it again\n{mutmut('show', name)}"
            )
    missing = [module for module in names if not any(counts[module].values())]
    problems += [f"{module}: no mutants found; was it mutated?" for module in missing]
    return counts, problems


def commit() -> str:
    """The commit checked out, with ``-dirty`` where the work tree differs from it."""
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=7"],
        capture_output=True,
        text=True,
        check=False,
    )
    return described.stdout.strip() if described.returncode == 0 else "unknown"


def write_record(counts: dict[str, Counter[str]], problems: int, minutes: float) -> Path:
    """Write the run's counts to ``benchmarks/results/mutation.json``, with its machine."""
    sys.path.insert(0, str(BENCHMARKS))
    import records  # noqa: PLC0415 (benchmarks/records.py, put on the path just above)

    columns = ("killed", "timeout", "equivalent", "survived", "other")
    modules = {
        f"{module.rpartition('.')[2]}.py": {column: count[column] for column in columns}
        for module, count in counts.items()
        if module != "?" or count
    }
    results = {
        "commit": commit(),
        "minutes": round(minutes, 1),
        "mutmut": records.version("mutmut"),
        "hypothesis": records.version("hypothesis"),
        "modules": modules,
        "mutants": sum(sum(count.values()) for count in counts.values()),
        # A timeout counts as a kill (the module docstring says why).
        "killed": sum(count["killed"] + count["timeout"] for count in counts.values()),
        "equivalent": sum(count["equivalent"] for count in counts.values()),
        "problems": problems,
    }
    return records.write(
        records.RESULTS_DIR / "mutation.json", records.record("nox -s mutation", results)
    )


def main(argv: list[str]) -> int:
    """Print the counts per module and every problem; return 0 if there is none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="delete mutants/ and run mutmut first")
    run = parser.parse_args(argv).run
    start = time.monotonic()
    if run:
        shutil.rmtree("mutants", ignore_errors=True)
        # mutmut's exit status says nothing about survivors; the judgement below does.
        subprocess.run([sys.executable, "-m", "mutmut", "run"], check=True)
    found = statuses()
    counts, problems = judge(found, equivalents(), modules())
    columns = ("killed", "timeout", "equivalent", "survived", "other")
    print(f"{'module':<22}" + "".join(f"{column:>11}" for column in columns))
    for module, count in counts.items():
        if module != "?" or count:
            print(f"{module:<22}" + "".join(f"{count[column]:>11}" for column in columns))
    for problem in problems:
        print(f"\nFAIL {problem}")
    print(f"\n{len(found)} mutants, {len(problems)} problems")
    if run:
        print(f"wrote {write_record(counts, len(problems), (time.monotonic() - start) / 60)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

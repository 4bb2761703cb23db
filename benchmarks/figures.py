"""Run the commands whose figures the docs quote but the docs session cannot rerun; record them.

Two kinds (``docs/figures.toml`` lists every figure and its source):

- figures that depend on the machine: ``twolayer train`` sums its products with numpy's BLAS, so
  the last digits of its losses depend on the library, its kernel and the CPU; the worst
  ``|error| / bound`` of ``zoo.reference_step``, whose rounding errors do too;
- figures that take too long for the docs session (about a minute, in the default run): the
  training judge's default run, and the judge's verdicts on the fifteen exhibits of the bug zoo
  and its six training loops.

``nox -s bench`` runs it after ``bench.py``; it writes ``benchmarks/results/figures.json``: each
command's arguments, exit status and standard output, with the date and the machine (see
``records.py``). ``tests/test_docs.py`` holds every figure that the docs quote from it to what
that output says. Not part of the package: it may print.
"""

import subprocess
import sys
import time

import records

from twolayer import zoo

OUTPUT = records.RESULTS_DIR / "figures.json"


def commands() -> dict[str, list[str]]:
    """The ``twolayer`` commands, by the name under which their output is recorded."""
    found = {
        "train": ["train"],
        "train_1500": ["train", "--steps", "1500", "--json"],
        "reference_check": ["check", "--impl", "twolayer.zoo:reference_step", "--json"],
        "reference_train": ["check", "--train", "twolayer.zoo:reference_train", "--json"],
    }
    for name, bug in zoo.BUGS.items():
        # Each exhibit as it claims to compute: a float32 step is judged as float32.
        declared = [
            "--arithmetic",
            bug.arithmetic,
            "--relu-grad-at-zero",
            str(bug.relu_grad_at_zero),
        ]
        found[f"zoo.{name}"] = ["check", "--impl", f"twolayer.zoo:{name}", *declared, "--json"]
    for name in zoo.TRAINING_BUGS:
        found[f"zoo.{name}"] = ["check", "--train", f"twolayer.zoo:{name}", "--json"]
    return found


def run(arguments: list[str]) -> dict[str, object]:
    """Run ``twolayer ARGUMENTS`` in a fresh process of this interpreter; its status and output."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "twolayer", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "command": " ".join(["twolayer", *arguments]),
        "status": done.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "stdout": done.stdout,
    }


def main() -> int:
    """Run every command, print a line for each, write the record; status 1 if one crashed."""
    outputs: dict[str, dict[str, object]] = {}
    for name, arguments in commands().items():
        outputs[name] = run(arguments)
        print(f"{name:40} exit status {outputs[name]['status']}, {outputs[name]['seconds']} s")
    document = records.record("python benchmarks/figures.py", outputs)
    print(f"wrote {records.write(OUTPUT, document)}")
    # 0 conforms, 1 does not conform: both are verdicts; anything else is a crash or misuse.
    return 0 if all(output["status"] in (0, 1) for output in outputs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

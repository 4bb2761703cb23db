"""The docs stay true: links resolve, quoted code is in the code, cited tests exist, examples run.

The worked example of ``docs/vectors.md`` is run against a suite freshly written by
``twolayer.vectors.suite_files()``, and the results file that it writes is judged by
``twolayer.conformance.check_results``: the page's code, its figures and its flag table are held
to the code that ships.
"""

import ast
import contextlib
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from twolayer import cli, conformance, vectors, zoo

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOCUMENTS = sorted([ROOT / "README.md", *DOCS.glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A cited test, in the one form that the docs use: tests/<file>.py::test_<name>.
CITATION = re.compile(r"\b(tests/[\w/]+\.py)::(test_\w+)")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# The first line of a README ``python`` block that is a test file for pytest, not a script: it
# is run by pytest in a temporary project (a plain install has no pytest).
PYTEST_FILE = "# test_mystep.py, run by pytest\n"


def relative_links(document: Path) -> list[str]:
    targets = [target.split("#")[0] for target in LINK.findall(document.read_text())]
    return [t for t in targets if t and not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(document: Path) -> None:
    for target in relative_links(document):
        assert (document.parent / target).exists(), f"{document.name}: broken link {target}"


def test_the_link_check_sees_links_and_catches_a_broken_one(tmp_path: Path) -> None:
    assert sum(len(relative_links(document)) for document in DOCUMENTS) > 0
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [web](https://example.org) [gone](missing.md#part)")
    assert relative_links(page) == ["page.md", "missing.md"]
    assert not (tmp_path / "missing.md").exists()


def quoted_code_lines(document: Path) -> list[str]:
    """The lines of the indented (4-space) code blocks of a markdown document."""
    lines, in_block, previous_blank = [], False, True
    for line in document.read_text().splitlines():
        indented = line.startswith("    ") and bool(line.strip())
        in_block = indented and (in_block or previous_blank)
        if in_block:
            lines.append(line.strip())
        previous_blank = not line.strip()
    return lines


def test_every_line_that_the_derivation_quotes_is_in_the_code() -> None:
    sources = "\n".join(
        (ROOT / "src" / "twolayer" / name).read_text() for name in ("network.py", "training.py")
    )
    code = {line.strip() for line in sources.splitlines()}
    quoted = quoted_code_lines(ROOT / "docs" / "derivation.md")
    assert len(quoted) >= 10
    missing = [line for line in quoted if line not in code]
    assert missing == []


@pytest.fixture(scope="module")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh virtual environment with ``pip install <this checkout>``.

    No extras and no dependency groups: what a user gets from ``pip install twolayer``. uv makes
    it where uv is on PATH (the nox sessions' backend), the standard venv and pip otherwise.
    """
    venv = tmp_path_factory.mktemp("plain") / "venv"
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv is not None:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python), str(ROOT)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", str(ROOT)]
    subprocess.run(install, check=True)
    return python


def test_the_readme_python_examples_run_after_a_plain_install(
    plain_python: Path, tmp_path: Path
) -> None:
    """Every ``python`` block of the README, in order, in one fresh process of a plain install.

    The install is shown to be plain: the test dependencies (pytest, matplotlib) are absent.
    """
    blocks = [
        block
        for block in PYTHON_BLOCK.findall((ROOT / "README.md").read_text())
        if not block.startswith(PYTEST_FILE)
    ]
    assert len(blocks) >= 3
    absent = "import importlib.util as u; print([u.find_spec(n) for n in ('pytest', 'matplotlib')])"
    probe = subprocess.run(
        [plain_python, "-c", absent], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert probe.stdout.strip() == "[None, None]"
    for number, block in enumerate(blocks):
        script = tmp_path / f"readme_block_{number}.py"
        script.write_text(block)
        ran = subprocess.run(
            [plain_python, str(script)], capture_output=True, text=True, check=False, cwd=tmp_path
        )
        assert ran.returncode == 0, f"README block {number}:\n{block}\n{ran.stderr}"


def readme_step_module() -> str:
    """The README's ``step``, with the imports of its block: what the README puts in mystep.py."""
    blocks = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())
    block = next(block for block in blocks if "\ndef step(" in block)
    kept: list[ast.stmt] = [
        node
        for node in ast.parse(block).body
        if isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.FunctionDef) and node.name == "step")
    ]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def test_the_readme_pytest_example_runs_in_a_temporary_project(tmp_path: Path) -> None:
    """The README's test file, beside its ``step`` in mystep.py, run by pytest as it shows.

    pytest runs in a fresh process in a folder of its own (no ini file, no conftest), with this
    interpreter, where twolayer is installed: its plugin comes from the entry point.
    """
    readme = (ROOT / "README.md").read_text()
    tests = [block for block in PYTHON_BLOCK.findall(readme) if block.startswith(PYTEST_FILE)]
    assert len(tests) == 1
    (tmp_path / "mystep.py").write_text(readme_step_module())
    (tmp_path / "test_mystep.py").write_text(tests[0])
    section = readme.split("### In your own test suite", 1)[1].split("\n## ", 1)[0]
    console = re.findall(r"```console\n(.*?)```", section, re.DOTALL)
    assert len(console) == 1
    command, *shown = console[0].splitlines()
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[:2] == ["pytest", "test_mystep.py"]
    pytest_command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    selected = subprocess.run(
        [*pytest_command, *argv[1:]], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert selected.returncode == 0, selected.stdout
    printed = [line for line in selected.stdout.splitlines() if "::" in line]
    assert len(printed) == len(shown) == 2
    assert all(line.startswith(expected) for line, expected in zip(printed, shown, strict=True))
    whole = subprocess.run(
        [*pytest_command, "-q", "test_mystep.py"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert whole.returncode == 0, whole.stdout
    cases = len(vectors.build_cases())  # the marker says float64: every case applies
    assert whole.stdout.splitlines()[-1].startswith(f"{cases + 1} passed in ")


def cited_tests(text: str) -> list[tuple[str, str]]:
    """Every ``tests/<file>.py::test_<name>`` in ``text``, as (path, name)."""
    return CITATION.findall(text)


def defined_tests(path: Path) -> set[str]:
    """The names of the test functions defined at the top level of a test module."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def missing_citations(text: str) -> list[str]:
    """The citations in ``text`` whose file or test function does not exist."""
    missing = []
    for path, name in cited_tests(text):
        target = ROOT / path
        if not target.is_file() or name not in defined_tests(target):
            missing.append(f"{path}::{name}")
    return missing


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_cited_test_exists(document: Path) -> None:
    assert missing_citations(document.read_text()) == []


def test_the_citation_check_sees_citations_and_catches_a_wrong_one() -> None:
    verification = (DOCS / "verification.md").read_text()
    assert len(cited_tests(verification)) >= 20
    good = "tests/test_docs.py::test_every_cited_test_exists"
    assert missing_citations(good) == []
    wrong_name = "tests/test_docs.py::test_that_was_never_written"
    wrong_file = "tests/test_nowhere.py::test_every_cited_test_exists"
    assert missing_citations(f"{good}, {wrong_name} and {wrong_file}.") == [wrong_name, wrong_file]


@pytest.fixture(scope="module")
def suite_files(sources: "Sources") -> dict[str, bytes]:
    """The files that ``twolayer vectors --out vectors/`` wrote for the figures (built once)."""
    assert sources["vectors"]  # what the command printed: a line a file
    return {path.name: path.read_bytes() for path in (sources.folder / "vectors").iterdir()}


@pytest.fixture
def suite_directory(
    suite_files: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A directory as ``twolayer vectors --out`` writes it, made the current directory."""
    for name, data in suite_files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    return tmp_path


TRAJECTORY_WALKTHROUGH = "## A worked example: a training loop's trajectories"


def step_walkthrough_blocks() -> list[str]:
    """The ``python`` blocks of ``docs/vectors.md`` before the trajectories' worked example."""
    page = (DOCS / "vectors.md").read_text()
    return PYTHON_BLOCK.findall(page.split(TRAJECTORY_WALKTHROUGH, 1)[0])


def trajectory_walkthrough() -> str:
    """The section of ``docs/vectors.md`` that walks through a training loop's trajectories."""
    page = (DOCS / "vectors.md").read_text()
    assert TRAJECTORY_WALKTHROUGH in page
    return page.split(TRAJECTORY_WALKTHROUGH, 1)[1].split("\n## ", 1)[0]


def test_the_vectors_walkthrough_runs_and_its_results_conform(suite_directory: Path) -> None:
    blocks = step_walkthrough_blocks()
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/vectors.md", "exec"), namespace)
    suite = (suite_directory / vectors.SUITE_FILE).read_bytes()
    results = (suite_directory / "results.json").read_bytes()
    report = conformance.check_results(suite, results)
    assert report.conforms, conformance.format_report(report)
    assert report.frozen_cases == len(vectors.build_cases())
    assert report.tie_cases > 0  # the tie convention was put to the test
    # The README's figure for this step, as `twolayer check --results` prints it. The step is
    # plain Python (each float operation correctly rounded, in a fixed order: the same bits on
    # every machine); the judge's bounds are summed by the BLAS, which moves them by a relative
    # 1e-13 or so at most (their own rounding allowance), far below the 3 digits printed.
    printed = run_command("twolayer check --results results.json", suite_directory)
    worst_h = re.search(r"^h\s+(\S+)", printed, re.MULTILINE)
    assert worst_h is not None, printed
    cases = len(vectors.build_cases())
    quoted = f"conforms on all {cases} cases; worst error/bound {worst_h.group(1)} (`h`)"
    assert quoted in words(ROOT / "README.md")


def test_the_walkthroughs_results_file_is_rejected_when_one_output_is_wrong(
    suite_directory: Path,
) -> None:
    blocks = step_walkthrough_blocks()
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/vectors.md", "exec"), namespace)
    document = json.loads((suite_directory / "results.json").read_bytes())
    entry = next(entry for entry in document["results"] if entry["id"] == 16)
    entry["grad_w2"]["data"][0] = float.hex(17.5)  # the factor 2 forgotten, as the page says
    suite = (suite_directory / vectors.SUITE_FILE).read_bytes()
    report = conformance.check_results(suite, json.dumps(document).encode())
    assert not report.conforms
    assert report.failure is not None
    assert report.failure.case == "case 16"
    assert report.failure.outputs == ("grad_w2",)


def run_trajectory_walkthrough() -> None:
    """Run the ``python`` blocks of the trajectories' worked example, in order, in one namespace."""
    blocks = PYTHON_BLOCK.findall(trajectory_walkthrough())
    assert len(blocks) == 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/vectors.md", "exec"), namespace)


def shown_check(section: str) -> tuple[list[str], list[str]]:
    """The ``twolayer check`` command of a ``console`` block (its arguments) and the lines that
    the block shows it printing."""
    block = re.findall(r"```console\n(.*?)```", section, re.DOTALL)
    assert len(block) == 1
    command, *printed = block[0].splitlines()
    assert command.startswith("$ twolayer check ")
    return shlex.split(command.removeprefix("$ twolayer ")), printed


def test_the_trajectories_walkthrough_runs_conforms_and_prints_what_it_shows(
    suite_directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_trajectory_walkthrough()
    results = (suite_directory / "trajectories.json").read_bytes()
    report = conformance.check_trajectory_results(None, results, arithmetic="float32")
    assert report.conforms, conformance.format_report(report)
    applicable = [
        case for case, _ in conformance.training_cases() if conformance.applies(case, "float32")
    ]
    assert report.frozen_cases == len(applicable) == 10
    assert report.tie_cases > 0  # the tie convention was put to the test
    section = trajectory_walkthrough()
    argv, shown = shown_check(section)
    assert argv[:3] == ["check", "--results", "trajectories.json"]
    capsys.readouterr()
    assert cli.main(argv) == cli.EXIT_OK
    printed = capsys.readouterr().out.splitlines()
    assert len(shown) == 3
    assert printed[: len(shown)] == shown
    # The table is shown as an example (its figures depend on the BLAS): its rows name the
    # outputs that the command prints, in its order.
    table = re.findall(r"```text\n(.*?)```", section, re.DOTALL)
    assert len(table) == 1
    example = table[0].splitlines()
    assert example[0] == printed[len(shown) + 1]
    assert [row.split()[0] for row in example[1:]] == [
        row.split()[0] for row in printed[len(shown) + 2 : len(shown) + 2 + len(example) - 1]
    ]


def test_the_trajectories_walkthroughs_file_is_rejected_when_one_weight_is_wrong(
    suite_directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_trajectory_walkthrough()
    document = json.loads((suite_directory / "trajectories.json").read_bytes())
    entry = next(entry for entry in document["trajectories"] if entry["id"] == 44)
    data = entry["w1"][1]["data"]
    data[0] = float.hex(float.fromhex(data[0]) + 2**-10)  # as the page says
    results = json.dumps(document).encode()
    report = conformance.check_trajectory_results(None, results, arithmetic="float32")
    assert not report.conforms
    assert report.failure is not None
    assert report.failure.case == "case 44"
    assert report.failure.outputs == ("w1",)
    assert report.failure.message.startswith("step 0: ")
    (suite_directory / "trajectories.json").write_bytes(results)
    argv, _ = shown_check(trajectory_walkthrough())
    capsys.readouterr()
    assert cli.main(argv) == cli.EXIT_CHECK_FAILED
    assert "DOES NOT CONFORM" in capsys.readouterr().out.splitlines()[0]


def test_the_vectors_page_lists_the_frozen_trajectories_and_where_they_apply() -> None:
    section = (DOCS / "vectors.md").read_text().split("| case | steps | applies to |", 1)[1]
    rows = re.findall(
        r"^\| (\d+) \| (\d+) \| ([\w, ]+) \|$", section.split("\n\n", 1)[0], re.MULTILINE
    )
    arithmetics = ("float64", "float32", "tf32", "bf16")
    listed = [(int(case), int(steps), applies.split(", ")) for case, steps, applies in rows]
    expected = [
        (case.id, steps, [a for a in arithmetics if conformance.applies(case, a)])
        for case, steps in conformance.training_cases()
    ]
    assert listed == expected


def words(document: Path) -> str:
    """The text of ``document`` with every run of white space made one space, as it renders."""
    return " ".join(document.read_text().split())


def test_the_docs_state_the_suites_case_count(suite_files: dict[str, bytes]) -> None:
    count = json.loads(suite_files[vectors.SUITE_FILE])["number_of_cases"]
    assert count == len(vectors.build_cases())
    page = words(DOCS / "vectors.md")
    assert f"on {count} hand-picked cases" in page
    assert f"`number_of_cases` | integer | the length of `cases` ({count} in this version)" in page
    assert f"the {count} frozen cases" in words(DOCS / "review-checklist.md")
    assert f"the {count} frozen cases" in words(DOCS / "verification.md")
    assert f"| {count} cases (the file's `number_of_cases`)" in words(ROOT / "README.md")


def flag_table(page: str) -> set[str]:
    """The flags named in the first column of the table under the heading ``### Flags``."""
    section = page.split("### Flags", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))


def test_the_vectors_page_lists_exactly_the_suites_flags() -> None:
    assert flag_table((DOCS / "vectors.md").read_text()) == set(vectors.NOTES)
    assert flag_table("### Flags\n\n| flag |\n|---|\n| `Only` | one |\n\n## Next") == {"Only"}


def test_the_review_checklist_covers_every_exhibit_of_the_bug_zoo() -> None:
    checklist = (DOCS / "review-checklist.md").read_text()
    assert len(zoo.BUGS) >= 8
    missing = [name for name in zoo.BUGS if f"`zoo.{name}`" not in checklist]
    assert missing == []


def test_the_review_checklist_covers_every_loop_of_the_bug_zoo() -> None:
    checklist = (DOCS / "review-checklist.md").read_text()
    assert len(zoo.TRAINING_BUGS) >= 6
    missing = [name for name in zoo.TRAINING_BUGS if f"`zoo.{name}`" not in checklist]
    assert missing == []


# -- The figures: each from its command (docs/figures.toml) ---------------------------------------

FIGURES = DOCS / "figures.toml"


class Figure(NamedTuple):
    """One figure of docs/figures.toml: where its value comes from and where it is quoted."""

    id: str
    source: str
    path: str
    match: str | None
    scale: float | None
    format: str | None
    quotes: list[tuple[str, str]]  # (document, text with "{}" for the figure)


def figures_table() -> tuple[dict[str, dict[str, str]], list[Figure]]:
    """The sources and the figures of docs/figures.toml."""
    table = tomllib.loads(FIGURES.read_text())
    figures = [
        Figure(
            entry["id"],
            entry["source"],
            entry["path"],
            entry.get("match"),
            entry.get("scale"),
            entry.get("format"),
            [(document, text) for document, text in entry["quotes"]],
        )
        for entry in table["figure"]
    ]
    return table["sources"], figures


SOURCES, FIGURE_LIST = figures_table()


def follow(node: object, path: str) -> object:
    """Walk ``node`` along ``path`` (docs/figures.toml says how)."""
    for step in [step for step in path.split("/") if step]:
        if step == "json" and isinstance(node, str):
            node = json.loads(node)
        elif isinstance(node, list) and step.startswith("index<"):
            limit = float(step.removeprefix("index<"))
            node = next(index for index, item in enumerate(node) if item < limit)
        elif isinstance(node, list) and "=" in step:
            key, _, value = step.partition("=")
            node = next(item for item in node if str(item[key]) == value)
        elif isinstance(node, list):
            node = node[int(step)]
        elif isinstance(node, dict):
            node = node[step]
        else:
            raise KeyError(f"{step!r} of {path!r}: nothing to step into")
    return node


def formatted(figure: Figure, source: object) -> list[str]:
    """The figure's text, one string per ``{}`` of its quotes."""
    value = follow(source, figure.path)
    if figure.match is not None:
        found = re.search(figure.match, str(value), re.MULTILINE)
        if found is None:
            raise ValueError(f"{figure.id}: {figure.match!r} matches nothing in {value!r}")
        value = found.group(1)
    spec = figure.format
    if spec is not None and spec.startswith("row:"):
        assert isinstance(value, dict)
        fields = [field.partition(":") for field in spec.removeprefix("row:").split(";")]
        return [format(value[name], field_spec or ",") for name, _, field_spec in fields]
    if figure.scale is not None:
        value = float(str(value)) * figure.scale
    if spec is not None:
        value = format(float(str(value)) if "e" in spec or "f" in spec else value, spec)
    return [str(value)]


def misquoted(figure: Figure, source: object, pages: dict[str, str]) -> list[str]:
    """The quotes of ``figure`` that its document does not hold, as they should read."""
    values = formatted(figure, source)
    wrong = []
    for document, text in figure.quotes:
        expected = " ".join(text.format(*values).split())
        if expected not in pages[document]:
            wrong.append(f"{figure.id}: {document} should say {expected!r}")
    return wrong


def stamp(record: dict[str, object]) -> str:
    """How the docs name a record's run: its date, then what it recorded of the machine."""
    machine = record["machine"]
    assert isinstance(machine, dict)
    parts = [
        machine.get("cpu"),
        None if machine.get("cores") is None else f"{machine['cores']} cores",
        None if machine.get("python") is None else f"Python {machine['python']}",
        None if machine.get("numpy") is None else f"numpy {machine['numpy']}",
        machine.get("blas"),
    ]
    return ", ".join([str(record["date"]), *[str(part) for part in parts if part is not None]])


def pages() -> dict[str, str]:
    """Every document, by its path from the root, white space collapsed."""
    return {str(document.relative_to(ROOT)): words(document) for document in DOCUMENTS}


def run_command(command: str, folder: Path) -> str:
    """What the ``twolayer`` command ``command`` prints, run in ``folder``, in this process."""
    argv = shlex.split(command)
    assert argv[0] == "twolayer"
    printed = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(printed):
        status = cli.main(argv[1:])
    assert status == cli.EXIT_OK, f"{command} ended with status {status}"
    return printed.getvalue()


class Sources:
    """Each source's content, made once, when first asked for: a command's output, a record."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[str, object] = {}

    def __getitem__(self, name: str) -> object:
        if name not in self.made:
            source = SOURCES[name]
            if "run" in source:
                self.made[name] = run_command(source["run"], self.folder)
            else:
                self.made[name] = json.loads((ROOT / source["record"]).read_text())
        return self.made[name]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return Sources(tmp_path_factory.mktemp("figures"))


@pytest.mark.parametrize("figure", FIGURE_LIST, ids=lambda figure: figure.id)
def test_every_figure_is_quoted_as_its_source_gives_it(figure: Figure, sources: Sources) -> None:
    assert misquoted(figure, sources[figure.source], pages()) == []


def test_every_record_is_quoted_with_its_date_and_machine() -> None:
    """A document that quotes a figure of a record names the record's run as ``stamp`` does."""
    texts = pages()
    quoted = {
        (figure.source, document)
        for figure in FIGURE_LIST
        if "record" in SOURCES[figure.source]
        for document, _ in figure.quotes
    }
    assert len(quoted) >= 8
    for name, document in sorted(quoted):
        record = json.loads((ROOT / SOURCES[name]["record"]).read_text())
        assert stamp(record) in texts[document], f"{document} quotes {name} without its run"


def test_every_record_says_what_made_it_and_every_one_is_a_source() -> None:
    """Each record names its command, its date and its machine; a hand-made copy says so."""
    recorded = {
        str(path.relative_to(ROOT)) for path in (ROOT / "benchmarks" / "results").glob("*.json")
    }
    assert recorded == {source["record"] for source in SOURCES.values() if "record" in source}
    for path in sorted(recorded):
        record = json.loads((ROOT / path).read_text())
        assert isinstance(record["command"], str), path
        assert record["command"], path
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"]), path
        assert {"cpu", "cores", "python", "numpy", "blas"} <= set(record["machine"]), path
        assert "transcribed" not in record or len(record["transcribed"]) > 40, path
        assert isinstance(record["results"], dict), path


def test_every_source_is_used_and_every_quote_names_a_document() -> None:
    used = {figure.source for figure in FIGURE_LIST}
    assert used == set(SOURCES)
    documents = set(pages())
    assert {document for figure in FIGURE_LIST for document, _ in figure.quotes} <= documents
    assert len({figure.id for figure in FIGURE_LIST}) == len(FIGURE_LIST)


def test_the_figure_check_catches_a_figure_that_drifted() -> None:
    """A page whose figure differs from its source's, in the last digit, is caught; and the
    check reads each kind of path and format."""
    record = {"results": {"rows": [{"name": "a", "ms": 1234.5, "min": 1000}], "text": "x: 17\n"}}
    rows = Figure(
        "rows", "r", "results/rows/name=a", None, None, "row:ms:,.1f;min", [("p", "{} {}")]
    )
    text = Figure("text", "r", "results/text", r"^x: (\d+)$", None, None, [("p", "is {}.")])
    scaled = Figure("scaled", "r", "results/rows/0/ms", None, 0.001, ".2f", [("p", "{} s")])
    page = {"p": "1,234.5 1,000 is 17. 1.23 s"}
    assert [misquoted(figure, record, page) for figure in (rows, text, scaled)] == [[], [], []]
    drifted = {"p": "1,234.6 1,000 is 18. 1.24 s"}
    assert [len(misquoted(figure, record, drifted)) for figure in (rows, text, scaled)] == [1, 1, 1]
    assert follow([3.0, 2.0, 0.5, 0.1], "index<1") == 2
    assert follow('{"a": [1, {"b": 2}]}', "json/a/-1/b") == 2

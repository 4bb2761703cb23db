"""The docs stay true: links resolve, quoted code is still in the code, README examples run."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


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


def test_the_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})

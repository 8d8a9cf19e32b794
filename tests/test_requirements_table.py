"""docs/REQUIREMENTS.md: every requirement R1–R24 is either proved by real tests or listed
as not yet covered, and every code and test reference in the table exists.

Test node ids (``tests/path.py::Class::test`` or ``tests/path.py::test``) and code
references (``perci_sim/path.py::name``) are resolved by parsing the files with
``ast``: nothing is imported or collected, so the check is fast and cannot be
fooled by a module that fails to import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "REQUIREMENTS.md"
ALL = frozenset(range(1, 25))

_ROW = re.compile(r"^\|\s*R(\d{1,2})\s*\|(.*)$")
_REF = re.compile(r"`([\w./-]+\.py::[\w.:\[\]-]+)`")
_MENTION = re.compile(r"\bR(\d{1,2})\b")


@dataclass
class Row:
    """One requirement line of the table."""

    number: int
    tests: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


def _section(text: str, heading: str) -> str:
    """The body of ``## heading`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"docs/REQUIREMENTS.md has no '## {heading}' section"
    return match.group(1)


def _rows(section: str) -> list[Row]:
    rows = []
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        refs = _REF.findall(match.group(2))
        rows.append(
            Row(
                number=int(match.group(1)),
                tests=[r for r in refs if r.startswith("tests/")],
                code=[r for r in refs if not r.startswith("tests/")],
            )
        )
    return rows


@cache
def parsed() -> tuple[list[Row], list[Row]]:
    """(covered rows, not-yet-covered rows) of docs/REQUIREMENTS.md."""
    text = TABLE.read_text(encoding="utf-8")
    return _rows(_section(text, "Covered")), _rows(_section(text, "Not yet covered"))


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _members(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            names.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def resolves(ref: str, *, test: bool) -> bool:
    """Whether ``path::A::b`` (test node id) or ``path::A.b`` (code) names a definition."""
    path_text, _, rest = ref.partition("::")
    path = ROOT / path_text
    if not path.is_file() or not rest:
        return False
    parts = re.sub(r"\[.*\]$", "", rest).split("::" if test else ".")
    body: list[ast.stmt] = _tree(path).body
    for i, name in enumerate(parts):
        node = _members(body).get(name)
        if node is None:
            return False
        if i < len(parts) - 1:
            if not isinstance(node, ast.ClassDef):
                return False
            body = node.body
        elif test and not (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and name.startswith("test")
        ):
            return False
    return True


def _test_functions(
    body: list[ast.stmt], prefix: list[str]
) -> list[tuple[list[str], ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Test functions of a module body, with their ``Test*`` class path."""
    found: list[tuple[list[str], ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found += _test_functions(node.body, [*prefix, node.name])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            found.append((prefix, node))
    return found


def mentions_in_tests() -> dict[int, list[str]]:
    """Requirement number -> test node ids whose source (docstring, body) names it."""
    found: dict[int, list[str]] = {}
    me = Path(__file__).resolve()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path.resolve() == me:
            continue
        source = path.read_text(encoding="utf-8").splitlines()
        rel = path.relative_to(ROOT).as_posix()
        for prefix, node in _test_functions(_tree(path).body, []):
            text = "\n".join(source[node.lineno - 1 : node.end_lineno])
            node_id = "::".join([rel, *prefix, node.name])
            for number in {int(n) for n in _MENTION.findall(text)}:
                found.setdefault(number, []).append(node_id)
    return found


class TestRequirementsTable:
    def test_every_requirement_is_listed_exactly_once(self) -> None:
        """R1–R24 each appear once: in the covered table or under "Not yet covered"."""
        covered, pending = parsed()
        numbers = [row.number for row in covered + pending]
        assert sorted(numbers) == sorted(ALL), "each of R1–R24 must appear exactly once"

    def test_covered_requirements_have_tests(self) -> None:
        """A requirement in the covered table lists at least one test node id."""
        covered, _ = parsed()
        assert [f"R{row.number}" for row in covered if not row.tests] == []

    def test_listed_tests_exist(self) -> None:
        """Every listed test node id names a test function in an existing file."""
        covered, pending = parsed()
        missing = [t for row in covered + pending for t in row.tests if not resolves(t, test=True)]
        assert missing == []

    def test_listed_code_exists(self) -> None:
        """Every ``perci_sim/…::name`` of the covered table is a definition in that module."""
        covered, _ = parsed()
        assert covered, "the covered table is empty"
        missing = [c for row in covered for c in row.code if not resolves(c, test=False)]
        assert missing == []
        assert [f"R{row.number}" for row in covered if not row.code] == []

    def test_not_yet_covered_is_exactly_the_untested(self) -> None:
        """A "not yet covered" requirement has no test naming it and lists no test ids;
        once a test names it (e.g. ``R11`` in its docstring), move its line into the table."""
        _, pending = parsed()
        mentions = mentions_in_tests()
        wrongly_pending = {
            f"R{row.number}": mentions[row.number] for row in pending if row.number in mentions
        }
        assert wrongly_pending == {}, "tested: move these into the covered table"
        assert [f"R{row.number}" for row in pending if row.tests] == []

    def test_the_resolver_rejects_what_does_not_exist(self) -> None:
        """The checks above would catch a renamed test or function."""
        me = "tests/test_requirements_table.py"
        assert resolves(f"{me}::TestRequirementsTable::test_listed_tests_exist", test=True)
        assert not resolves(f"{me}::TestRequirementsTable::test_nothing", test=True)
        assert not resolves(f"{me}::resolves", test=True)  # not a test function
        assert not resolves("tests/nowhere.py::test_x", test=True)
        assert resolves("perci_sim/reports/figures.py::compute_report", test=False)
        assert not resolves("perci_sim/reports/figures.py::no_such_function", test=False)

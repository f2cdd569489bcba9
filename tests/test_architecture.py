"""Layering rules (import-linter contracts in pyproject.toml), top-level package names, function length."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse(src: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, tried again when CPython 3.11 raises "AST constructor recursion depth mismatch":
    its AST conversion keeps one recursion counter per interpreter, so another thread of the test
    process converting an AST at the same moment (a server thread left by an earlier test) corrupts it
    (python/cpython#106905, fixed in later releases). The file is not at fault; a second try parses it."""
    for attempt in range(5):
        try:
            return ast.parse(src, filename=filename)
        except SystemError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 8 kept, 0 broken" in res.stdout


def test_generic_top_level_names_resolve_inside_the_repo():
    for name in ("models", "flows", "integrations", "closeloop"):
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve().is_relative_to(ROOT), (name, mod.__file__)


def test_domain_reads_no_clock():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "closeloop" / "domain").glob("*.py"))
    for needle in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
        assert needle not in text


MAX_FUNCTION_LINES = 60
#: the trees the house rule "no function over 60 lines" covers
LENGTH_CHECKED = ("closeloop", "models", "integrations", "flows", "bench")
#: Alembic revisions: their upgrade()/downgrade() are schema declarations (one operation a line, as
#: autogenerate wrote them), not logic to split
LENGTH_EXEMPT = ("models/migrations/versions",)
#: functions over the limit that another change is splitting right now; each must still be long (see
#: test_pending_split_lists_only_long_functions), so remove a name here once its split lands
PENDING_SPLIT: set[str] = set()


def _long_functions() -> dict[str, int]:
    """``{"path:Qualified.name": lines}`` of every function or method over ``MAX_FUNCTION_LINES`` in
    ``LENGTH_CHECKED`` (paths relative to the repository, ``/``-separated; nested functions dotted
    under their parent). Lines run from the ``def`` line to the last line, docstring included,
    decorators not."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found[f"{rel}:{name}"] = lines
                visit(child, rel, name + ".")
            else:
                visit(child, rel, prefix)

    for top in LENGTH_CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(LENGTH_EXEMPT):
                continue
            visit(parse(path.read_text(encoding="utf-8"), filename=rel), rel, "")
    return found


def test_no_function_is_longer_than_60_lines():
    """House rule: a function over 60 lines is split into named steps (``PENDING_SPLIT`` aside)."""
    too_long = {name: n for name, n in _long_functions().items() if name not in PENDING_SPLIT}
    assert not too_long, "functions over 60 lines, split them into named steps:\n" + "\n".join(
        f"  {name} ({n} lines)" for name, n in sorted(too_long.items()))


def test_pending_split_lists_only_long_functions():
    """The allowlist cannot rot: a name that is split (or gone) must leave ``PENDING_SPLIT``."""
    long = _long_functions()
    stale = sorted(name for name in PENDING_SPLIT if name not in long)
    assert not stale, "no longer over 60 lines (or gone): " + ", ".join(stale) + "; remove it from PENDING_SPLIT"


#: attribute and keyword names that hold a value of a typed enum (statuses, states, directions, kinds)
ENUM_VALUED = {"status", "to_state", "from_state", "direction", "kind"}
#: of those, the names checked only as an attribute or keyword (``task.kind``, ``kind=``): a plain variable
#: ``kind`` is also the replay's own event kind (``"follow_up"``, ``"approve"``), which is no domain value
ATTRIBUTE_ONLY = {"kind"}
#: the trees the rule "no bare status string" covers; the domain declares the enums themselves
LITERAL_CHECKED = ("closeloop", "models/tables", "integrations", "flows")


def _enum_values() -> set[str]:
    """Every value of a StrEnum declared in ``closeloop/domain`` (the statuses, kinds and directions)."""
    from enum import StrEnum

    values: set[str] = set()
    for path in (ROOT / "closeloop" / "domain").glob("*.py"):
        mod = importlib.import_module(f"closeloop.domain.{path.stem}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, StrEnum) and obj is not StrEnum:
                values |= {m.value for m in obj}
    return values


_VALUES: set[str] = set()


def _is_text(node: ast.AST) -> bool:
    """A string literal (or a tuple/list/set holding one) that is the value of a domain enum."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in _VALUES
    return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(_is_text(e) for e in node.elts)


def _name_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) and node.id not in ATTRIBUTE_ONLY else None


def _bare_status_literals() -> list[str]:
    """``path:line`` of every comparison of a status-like attribute with a string (``t.status == "done"``,
    ``c.status in ("merged", "rejected")``, ``Task.status.in_(("open",))``, ``t.kind != "follow-up"``) and every
    ``status="..."`` or ``kind="..."`` keyword, outside ``closeloop/domain`` (issue 11: typed enums only).
    Strings that are no enum's value (a health answer's ``status="ok"``, Apprise's ``"TIMEOUT"``, a configured
    task kind such as ``"investigate"``) are not statuses or kinds of ours."""
    _VALUES.update(_enum_values())
    found = []
    for tree in LITERAL_CHECKED:
        for path in sorted((ROOT / tree).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("closeloop/domain/"):
                continue
            for node in ast.walk(parse(path.read_text(encoding="utf-8"), rel)):
                hit = False
                if isinstance(node, ast.Compare):
                    sides = [node.left, *node.comparators]
                    hit = any(_name_of(s) in ENUM_VALUED for s in sides) and any(_is_text(s) for s in sides)
                elif isinstance(node, ast.Call):
                    f = node.func
                    hit = (isinstance(f, ast.Attribute) and f.attr in ("in_", "not_in")
                           and _name_of(f.value) in ENUM_VALUED and any(_is_text(a) for a in node.args))
                    hit = hit or any(k.arg in ENUM_VALUED and _is_text(k.value) for k in node.keywords)
                if hit:
                    found.append(f"{rel}:{getattr(node, 'lineno', 0)}")
    return found


def test_no_bare_status_strings_outside_the_domain():
    assert _bare_status_literals() == []


def _undeferred_imports(path: Path) -> list[str]:
    """Every import inside a function of ``path`` that is not deferred on purpose: its own line says
    ``deferred:``, or the line above it is a ``# deferred: <reason>`` comment or ends an import that is."""
    src = path.read_text(encoding="utf-8")
    lines = src.split("\n")
    nodes = [n for fn in ast.walk(parse(src, str(path))) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
             for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
    by_end = {n.end_lineno: n for n in nodes}

    def ok(node: ast.stmt) -> bool:
        if "deferred:" in lines[node.lineno - 1]:
            return True
        above = node.lineno - 1
        if above >= 1 and lines[above - 1].strip().startswith("# deferred:"):
            return True
        return above in by_end and ok(by_end[above])

    return [f"{path.relative_to(ROOT)}:{n.lineno}: {lines[n.lineno - 1].strip()}" for n in nodes if not ok(n)]


def test_every_function_level_import_states_why_it_is_deferred():
    """Imports sit at the top of a module; one inside a function carries ``# deferred: <reason>`` (an import
    cycle, a start-up cost, an optional dependency), so a newcomer sees which are on purpose (issue 11)."""
    offenders = []
    for package in ("closeloop", "models", "integrations", "flows"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            offenders += _undeferred_imports(path)
    assert not offenders, "import at the top, or say why not (# deferred: ...):\n" + "\n".join(offenders)

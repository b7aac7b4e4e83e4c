"""Which package may import which: the domain below the faces. Read from the source with
`ast`, so an import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What must not reach up into the JSON API: the use cases, the CLI, the demo, the redirector.
BELOW_THE_API = [
    ROOT / "affiliates" / "services",
    ROOT / "affiliates" / "cli.py",
    ROOT / "affiliates" / "demo.py",
    ROOT / "tracking",
]
VALIDATION = ROOT / "affiliates" / "validation"


def sources(*places: Path) -> Iterator[Path]:
    for place in places:
        yield from sorted(place.rglob("*.py")) if place.is_dir() else [place]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module `path` imports, anywhere in it, as (line, dotted name); `from a import b`
    names both `a` and `a.b`, since `b` may be a module."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def offenders(places: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources(*places)
        for line, name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_services_cli_demo_and_tracking_import_nothing_from_the_api():
    assert offenders(BELOW_THE_API, ("affiliates.api",)) == []


def test_validation_imports_neither_flask_nor_the_api():
    forbidden = ("flask", "flask_wtf", "flask_login", "affiliates.api", "affiliates.extensions")
    assert offenders([VALIDATION], forbidden) == []


def test_the_layering_check_sees_lazy_and_relative_imports():
    module = ROOT / "affiliates" / "services" / "example.py"
    source = (
        "def lazy():\n"
        "    from affiliates.api.schemas import Id\n"
        "from .. import api\n"
        "from affiliates import api as the_api\n"
        "import affiliates.api.core\n"
    )
    names = [name for _, name in imported(module, source)]
    assert "affiliates.api.schemas" in names
    assert names.count("affiliates.api") == 2  # `from .. import api`, `from affiliates import api`
    assert "affiliates.api.core" in names

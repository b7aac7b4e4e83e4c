"""No code of ours leans on SQLAlchemy's private attributes: they change between releases."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = re.compile(r"\._(cached_result_processor|cached_bind_processor|bind_processors"
                     r"|result_columns)\b")  # fmt: skip


def test_no_private_sqlalchemy_attribute_is_used_in_the_source_tree():
    sources = [path for package in ("affiliates", "tracking") for path in
               sorted((ROOT / package).rglob("*.py"))]  # fmt: skip
    assert len(sources) > 20  # the tree was found
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if PRIVATE.search(line)
    ]
    assert found == []

"""The Russian catalogue: every page string translated, and the committed .mo up to date."""

from __future__ import annotations

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from affiliates.config import ROOT

CATALOGUE = ROOT / "affiliates" / "translations" / "ru" / "LC_MESSAGES"


def page_strings() -> set[str]:
    """Every string the pages pass through gettext, found as `make messages` finds them."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "_l": None}
        )
    }


def test_every_page_string_has_a_russian_translation():
    with open(CATALOGUE / "messages.po", "rb") as po:
        catalogue = read_po(po)
    strings = page_strings()
    assert {"Page not found", "Access denied", "Something went wrong"} <= strings
    for string in strings:
        message = catalogue.get(string)
        assert message is not None, f"not in messages.po (run make messages): {string!r}"
        assert message.string and not message.fuzzy, f"not translated: {string!r}"


def test_the_committed_mo_matches_the_po():
    with open(CATALOGUE / "messages.po", "rb") as po, open(CATALOGUE / "messages.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    translated = {m.id: m.string for m in source if m.id and m.string and not m.fuzzy}
    assert {m.id: m.string for m in compiled if m.id} == translated

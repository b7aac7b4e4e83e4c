"""Building redirect targets: the destination's own query kept, UTM tags set, click id added."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
CLICK_PARAM = "aff_click_id"


def with_params(url: str, params: Mapping[str, str | None]) -> tuple[str, str]:
    """`url` with `params` set (replacing same-named ones), split before its fragment.

    Returns (url_without_fragment, fragment_suffix) so a click id can be appended cheaply.
    """
    parts = urlsplit(url)
    setting = {key: value for key, value in params.items() if value}
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in setting and key != CLICK_PARAM
    ]
    query.extend(setting.items())
    base = urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(query, quote_via=quote), "")
    )
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return base, fragment


def add_click_id(base: str, fragment: str, click_id: str) -> str:
    """Append aff_click_id to a URL produced by with_params."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{CLICK_PARAM}={click_id}{fragment}"

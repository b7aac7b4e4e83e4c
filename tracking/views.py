"""The redirector: GET /r/<code> records the click, then answers 302."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.datastructures import Headers

from tracking.clicklog import ClickRow, LinkTarget
from tracking.utm import UTM_FIELDS, add_click_id, with_params
from tracking.visitors import is_bot

tracking = Blueprint("tracking", __name__)

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MAX_PARAMS = 20
_MAX_VALUE = 200


class RedirectResponse(Response):
    """A 302 whose headers are already ASCII-safe (the target is IRI-encoded once, when the
    link is cached), so werkzeug's per-response Location re-encoding is skipped."""

    def get_wsgi_headers(self, environ: Any) -> Headers:
        return self.headers


def _text(value: str) -> str:
    """A recorded query value: bounded, and without NULs (PostgreSQL text refuses them)."""
    return value.replace("\x00", "")[:_MAX_VALUE]


def _extra_params(args: dict[str, str]) -> str | None:
    """Query parameters other than UTM and sub_id, bounded, as JSON."""
    extra = {
        key[:_MAX_VALUE]: value[:_MAX_VALUE]
        for key, value in list(args.items())[:_MAX_PARAMS]
        if key not in UTM_FIELDS and key != "sub_id"
    }
    return json.dumps(extra, ensure_ascii=False) if extra else None


def _target_url(link: LinkTarget, args: dict[str, str], click_id: str) -> tuple[str, dict]:
    """The redirect URL and the UTM values to record; UTM on the tracked link override."""
    overrides = {}
    for key in UTM_FIELDS:
        value = _text(args[key]) if key in args else ""
        if value:
            overrides[key] = value
    if not overrides:
        return add_click_id(*link.target, click_id), link.utm
    utm = {**link.utm, **overrides}
    return add_click_id(*with_params(link.destination_url, utm), click_id), utm


@tracking.route("/r/<code>", methods=["GET", "HEAD"])
def redirect(code: str) -> Response:
    """Record the click durably, then send the visitor on with UTM tags and the click id."""
    if not _CODE.match(code):
        return _not_found()
    extensions = current_app.extensions
    state = extensions["tracking"]
    link = state.clicklog.lookup(code)
    if link is None:
        return _not_found()
    req = request._get_current_object()  # type: ignore[attr-defined]
    args = req.args.to_dict(flat=True) if req.args else {}
    click_id = secrets.token_urlsafe(16)
    location, utm = _target_url(link, args, click_id)
    headers = req.headers
    user_agent = headers.get("User-Agent", "")[:512]
    ip = req.remote_addr or ""
    bot = is_bot(user_agent)
    state.clicklog.record(
        ClickRow(
            id=click_id,
            link_id=link.link_id,
            partner_id=link.partner_id,
            offer_id=link.offer_id,
            created_at=extensions["clock"](),
            ip_hash=state.hasher.ip_hash(ip),
            visitor_key=state.hasher.visitor_key(ip, user_agent),
            user_agent=user_agent,
            referer=headers.get("Referer", "")[:1024],
            sub_id=(_text(args.get("sub_id", "")) or link.sub_id or None),
            params=_extra_params(args) if args else None,
            is_bot=bot,
            attributable=link.attributable and not bot,
            **{key: (utm.get(key) or None) for key in UTM_FIELDS},
        )
    )
    # Only now, with the click committed, does the visitor get sent on.
    return RedirectResponse(
        status=302,
        headers=[
            ("Location", location),
            ("Cache-Control", "no-store"),
            ("Set-Cookie", f"aff_click_id={click_id}; {link.cookie_attributes}{state.secure}"),
        ],
    )


def _not_found() -> Response:
    """A small, friendly page; no click is recorded."""
    return Response(render_template("tracking/not_found.html"), status=404)


# The smallest transparent GIF: 1x1, one colour, 43 bytes.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@tracking.get("/p/conversion.gif")
def conversion_pixel() -> Response:
    """For merchants without a server: records a conversion (source: pixel) for the visitor's
    aff_click_id cookie, and always answers a 1x1 GIF, whatever happened."""
    from affiliates.services import conversions

    try:
        conversions.record_pixel(
            request.args.to_dict(flat=True),
            request.cookies.get("aff_click_id"),
            current_app,
        )
    except Exception:  # a pixel never breaks the merchant's page
        current_app.logger.warning("pixel conversion not recorded", exc_info=True)
    return Response(
        PIXEL,
        mimetype="image/gif",
        headers={"Cache-Control": "no-store, max-age=0", "X-Content-Type-Options": "nosniff"},
    )

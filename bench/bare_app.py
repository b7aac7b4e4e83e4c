"""The ceiling: a bare Flask app answering the same 302 from a dict, no database."""

from __future__ import annotations

import secrets

from flask import Flask, Response

app = Flask(__name__)
TARGETS = {
    "bench001": "https://shop.example.com/item?utm_source=bench&utm_medium=affiliate"
    "&utm_campaign=bench"
}


@app.get("/r/<code>")
def redirect(code: str) -> Response:
    target = TARGETS.get(code)
    if target is None:
        return Response("not found", status=404)
    click_id = secrets.token_urlsafe(16)
    response = Response(
        status=302,
        headers={"Location": f"{target}&aff_click_id={click_id}", "Cache-Control": "no-store"},
    )
    response.set_cookie(
        "aff_click_id", click_id, max_age=30 * 86_400, httponly=True, samesite="Lax"
    )
    return response

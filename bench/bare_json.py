"""The ceiling for intake: a bare Flask endpoint that parses the same JSON and answers 201."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/conversions")
def create() -> tuple[object, int]:
    body = request.get_json()
    return jsonify(id=1, order_id=body["order_id"], amount=body["amount"], status="pending"), 201


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}

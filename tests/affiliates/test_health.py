"""/healthz: 200 when the database answers, 503 (never 500) when it does not."""

from __future__ import annotations

import pytest

from tests.apps import another_app

UNREACHABLE = [
    # nothing listens on port 1: refused at once
    "postgresql+psycopg://postgres@127.0.0.1:1/x?connect_timeout=2",
    # a directory where a SQLite file should be
    "sqlite:////",
]


def test_healthz_is_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_needs_no_key_and_answers_head(client):
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("url", UNREACHABLE)
def test_healthz_is_503_when_the_database_is_unreachable(database_url, url):
    with another_app(database_url, DATABASE_URL=url) as down:
        client = down.test_client()
        for _ in range(2):  # the failed attempt leaves nothing behind
            response = client.get("/healthz")
            assert response.status_code == 503
            assert response.get_json()["status"] != "ok"


def test_the_app_is_healthy_again_after_an_unreachable_one(client, database_url):
    with another_app(database_url, DATABASE_URL=UNREACHABLE[0]) as down:
        assert down.test_client().get("/healthz").status_code == 503
    assert client.get("/healthz").status_code == 200

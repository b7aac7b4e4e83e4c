"""`affiliates serve`: how many workers it starts, and what gunicorn is told."""

from __future__ import annotations

import pytest

from affiliates.cli import default_workers, gunicorn_argv


@pytest.mark.parametrize("cpus, expected", [(1, 2), (2, 2), (8, 8)])
def test_on_sqlite_there_is_one_worker_per_core_and_at_least_two(cpus, expected):
    assert default_workers("sqlite:///instance/affiliates.db", cpus) == expected


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@db/affiliates", "postgres://u@db/a", "postgresql+psycopg://u@db/a"],
)
def test_on_postgresql_there_are_two_workers_per_core_and_one(url):
    assert default_workers(url, 2) == 5
    assert default_workers(url, 8) == 17


def test_without_affiliates_access_log_gunicorn_keeps_no_access_log(monkeypatch):
    monkeypatch.delenv("AFFILIATES_ACCESS_LOG", raising=False)
    argv = gunicorn_argv("127.0.0.1", 5000, 3, "sync", 4)
    assert "--access-logfile" not in argv
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[-1] == "affiliates.wsgi:app"


def test_with_affiliates_access_log_gunicorn_logs_to_standard_output(monkeypatch):
    monkeypatch.setenv("AFFILIATES_ACCESS_LOG", "1")
    argv = gunicorn_argv("127.0.0.1", 5000, 3, "gthread", 4)
    assert argv[argv.index("--access-logfile") + 1] == "-"
    assert argv[argv.index("--threads") + 1] == "4"


def test_serve_starts_gunicorn_with_the_default_workers_for_the_database(runner, app, monkeypatch):
    started = []
    monkeypatch.setattr("affiliates.cli.os.execv", lambda path, argv: started.append(argv))
    result = runner.invoke(args=["serve", "--port", "5099"])
    assert result.exit_code == 0, result.output
    (argv,) = started
    expected = default_workers(app.config["DATABASE_URL"])
    assert argv[argv.index("--workers") + 1] == str(expected)
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:5099"
    assert f"with {expected} sync workers" in result.output


def test_serve_takes_the_workers_it_is_given(runner, monkeypatch):
    started = []
    monkeypatch.setattr("affiliates.cli.os.execv", lambda path, argv: started.append(argv))
    assert runner.invoke(args=["serve", "--workers", "7"]).exit_code == 0
    assert started[0][started[0].index("--workers") + 1] == "7"


def test_serve_help_names_the_default_workers_the_code_starts(runner):
    result = runner.invoke(args=["serve", "--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())
    assert "1 per CPU and at least 2 on SQLite, 2 per CPU + 1 on PostgreSQL" in help_text


def test_gunicorn_loads_the_hooks_that_run_the_click_aggregator_in_the_arbiter():
    argv = gunicorn_argv("127.0.0.1", 5000, 3, "sync", 4)
    assert argv[argv.index("--config") + 1] == "python:affiliates.gunicorn_hooks"

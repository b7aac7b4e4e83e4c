"""Configuration: code defaults, then the environment, then explicit overrides."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"
DEFAULT_DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'affiliates.db'}"


class ConfigError(RuntimeError):
    """The configuration cannot run the application."""


def defaults() -> dict[str, object]:
    """Code defaults; every key may be overridden from the environment."""
    return {
        "ENV": "production",
        "SECRET_KEY": None,
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "BASE_URL": "http://127.0.0.1:5000",
        "REDIS_URL": None,
        # How many reverse proxies in front of us append to X-Forwarded-For; 0 trusts none.
        "TRUSTED_PROXIES": 0,
        # Key for the keyed hash of client IPs; rotating it starts new visitor keys.
        "IP_HASH_KEY": None,
        # Seconds a redirector process may serve a link from its cache after a change.
        "LINK_CACHE_SECONDS": 5.0,
        "PAYOUT_MIN_AMOUNT": Decimal("1000.00"),
        "API_PAGE_LIMIT": 50,
        "API_MAX_PAGE_LIMIT": 500,
        "MAX_CONTENT_LENGTH": 1 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def load(overrides: dict[str, object] | None = None) -> dict[str, object]:
    """Build the configuration mapping and check it can run."""
    config = defaults()
    env = os.environ
    # The contract names these without a prefix.
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        if env.get(name):
            config[name] = env[name]
    for key, value in env.items():
        if key.startswith("AFFILIATES_"):
            config[key.removeprefix("AFFILIATES_")] = value
    if overrides:
        config.update(overrides)
    return finalise(config)


def finalise(config: dict[str, object]) -> dict[str, object]:
    """Coerce types and refuse to start without a secret outside development."""
    config["TRUSTED_PROXIES"] = int(str(config["TRUSTED_PROXIES"]))
    config["LINK_CACHE_SECONDS"] = float(str(config["LINK_CACHE_SECONDS"]))  # float ok: seconds
    config["PAYOUT_MIN_AMOUNT"] = Decimal(str(config["PAYOUT_MIN_AMOUNT"]))
    config["BASE_URL"] = str(config["BASE_URL"]).rstrip("/")
    config["API_PAGE_LIMIT"] = int(str(config["API_PAGE_LIMIT"]))
    config["API_MAX_PAGE_LIMIT"] = int(str(config["API_MAX_PAGE_LIMIT"]))
    if config.get("MAX_CONTENT_LENGTH") is not None:  # bytes; from the environment, text
        config["MAX_CONTENT_LENGTH"] = int(str(config["MAX_CONTENT_LENGTH"]))
    development = config["ENV"] in ("development", "testing")
    if not config.get("SECRET_KEY"):
        if not development:
            raise ConfigError(
                "SECRET_KEY is not set. Set it in the environment "
                "(or AFFILIATES_ENV=development for a local run)."
            )
        config["SECRET_KEY"] = "development-only-secret"  # noqa: S105 - development only
    if not config.get("IP_HASH_KEY"):
        config["IP_HASH_KEY"] = f"ip:{config['SECRET_KEY']}"
    config["SESSION_COOKIE_SECURE"] = not development
    return config

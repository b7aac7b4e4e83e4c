"""Who clicked, without keeping who: keyed IP hashes, visitor keys and bot detection."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from crawlerdetect import CrawlerDetect

_detector = CrawlerDetect()


@lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    """True for known crawlers, link-preview fetchers, HTTP libraries and empty agents."""
    if not user_agent.strip():
        return True
    return bool(_detector.isCrawler(user_agent))


class VisitorHasher:
    """Keyed hashes: the raw IP never reaches the database, and rotating the key
    (IP_HASH_KEY) makes old hashes unlinkable to new ones."""

    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def ip_hash(self, ip: str) -> str:
        return hmac.new(self._key, b"ip\n" + ip.encode(), hashlib.sha256).hexdigest()[:32]

    def visitor_key(self, ip: str, user_agent: str) -> str:
        message = b"visitor\n" + ip.encode() + b"\n" + user_agent.encode("utf-8", "replace")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

"""A sliding-window limit per key (hashed), kept in SQLite so restarts do not reset it."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path


class RateLimiter:
    """At most `limit` hits per key within `window_seconds`."""

    def __init__(self, path: Path, limit: int, window_seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.limit = limit
        self.window = window_seconds
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS hits_by_key ON hits(key, at)")

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one attempt; False (and not counted) when the key is over its limit."""
        now = time.time() if now is None else now
        hashed = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM hits WHERE at < ?", (now - self.window,))
                used = self._db.execute(
                    "SELECT count(*) FROM hits WHERE key = ? AND at >= ?",
                    (hashed, now - self.window),
                ).fetchone()[0]
                if used >= self.limit:
                    self._db.execute("COMMIT")
                    return False
                self._db.execute("INSERT INTO hits VALUES (?, ?)", (hashed, now))
                self._db.execute("COMMIT")
                return True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

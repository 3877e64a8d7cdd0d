"""Brings a feed's bytes from a local path or an http(s) address, never more than a size limit."""

from __future__ import annotations

from pathlib import Path


class FetchFailed(RuntimeError):
    """The feed could not be read; the message says where and why."""


def is_url(source: str) -> bool:
    """True for an http(s) address, False for a path."""
    return source.startswith(("http://", "https://"))


def fetch(source: str, max_bytes: int, timeout: float = 30.0) -> bytes:
    """The feed's bytes; a missing file, a failed request or a feed past max_bytes is refused."""
    if is_url(source):
        return _fetch_url(source, max_bytes, timeout)
    path = Path(source).expanduser()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchFailed(
                f"{source}: {size:,} bytes, more than catalog_max_bytes ({max_bytes:,})"
            )
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise FetchFailed(f"{source}: no such file") from exc
    except IsADirectoryError as exc:
        raise FetchFailed(f"{source}: is a folder, not a feed file") from exc
    except OSError as exc:
        raise FetchFailed(f"{source}: cannot be read ({exc.strerror})") from exc


def _fetch_url(url: str, max_bytes: int, timeout: float) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise FetchFailed(f"{url}: the server answered HTTP {response.status_code}")
            parts: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise FetchFailed(
                        f"{url}: more than catalog_max_bytes ({max_bytes:,}) bytes; stopped"
                    )
                parts.append(chunk)
            return b"".join(parts)
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{url}: {exc.__class__.__name__}: {exc}") from exc

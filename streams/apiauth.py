"""Who may read the worker's HTTP API: the bearer token and where it is asked for."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

#: the pages that answer without the API token (probes and scrapers)
OPEN_PAGES = frozenset({"/health", "/metrics"})


def check_api_exposure(host: str, token: str | None) -> None:
    """Refuse (ValueError) an HTTP API beyond loopback without a token."""
    if not token and not _is_loopback(host):
        raise ValueError(
            f"the HTTP API would listen on {host} without a token: set "
            "AVAILABILITY_API_TOKEN_FILE (or bind it to 127.0.0.1)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authorized(token: str | None, request: Any) -> bool:
    """Whether ``request`` carries the API token (always, without a token)."""
    if not token:
        return True
    given = str(request.headers.get("Authorization", ""))
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def unauthorized(web: Any) -> Any:
    return web.json(
        {"error": "this page needs the API token: Authorization: Bearer <token>"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )

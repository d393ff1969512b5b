"""`digestbot health`: ask a running bot's /healthz and turn the answer into an exit code."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from bot.config import Settings

DEFAULT_TIMEOUT = 5.0  # seconds; a container HEALTHCHECK gives the command a little more


@dataclass(frozen=True, slots=True)
class Health:
    """One probe: healthy or not, and one line saying why."""

    ok: bool
    detail: str


def health_port(settings: Settings) -> int:
    """Return the port `digestbot run` serves /healthz on (0: it serves none)."""
    if settings.metrics_port:
        return settings.metrics_port
    # A webhook bot serves /healthz on the webhook's own server.
    return settings.port if settings.webhook_url else 0


def probe(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Health:
    """GET `url` (a /healthz endpoint); healthy on 200, else say what answered or that none did."""
    if not url.startswith(("http://", "https://")):
        return Health(ok=False, detail=f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- scheme checked above
            body = response.read(2000).decode("utf-8", "replace").strip()
            return Health(ok=True, detail=f"healthy: {body or response.status}")
    except urllib.error.HTTPError as exc:
        # 503 with a body naming what is stale: pass the body on.
        body = exc.read(2000).decode("utf-8", "replace").strip()
        return Health(ok=False, detail=f"unhealthy ({exc.code}): {body or exc.reason}")
    except urllib.error.URLError as exc:
        return Health(
            ok=False,
            detail=f"nothing answers at {url} ({exc.reason}); is `digestbot run` serving "
            "METRICS_PORT?",
        )
    except OSError as exc:  # a timeout or a reset while reading the answer
        return Health(ok=False, detail=f"no answer from {url}: {exc or type(exc).__name__}")

"""ConceptNet 5 over its HTTP API: cached on disk, rate-limited, retried, pageable, offline-able.

The API answers JSON-LD: ``GET /c/en/boot`` and ``GET /query?start=/c/en/boot&rel=/r/IsA`` give
``{"edges": [...], "view": {"nextPage": "/query?...&offset=20&limit=20", ...}}``, each edge with
``rel/@id``, ``start/@id``, ``end/@id`` and ``weight``. Every successful answer is kept in a
requests-cache SQLite file, so a second run needs no network; ``offline=True`` reads only that
cache. Network requests wait for the rate limit (default 1 per second); 429 and 5xx answers,
timeouts and refused connections are retried with exponential backoff (``Retry-After`` honoured).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import requests

from kgfilters.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RELATIONS",
    "CnEdge",
    "ConceptNetClient",
    "ConceptNetError",
    "EdgeSource",
    "concept_path",
    "node_pos",
    "strip_sense",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.conceptnet.io"
DEFAULT_RELATIONS = ("IsA", "PartOf", "HasA", "UsedFor", "Synonym")
_HOW = (
    "use the ConceptNet cache of an earlier run (--offline), load the assertions dump "
    "(--conceptnet-dump conceptnet-assertions-5.7.0.csv.gz), or link with WordNet only "
    "(leave out --conceptnet)"
)


def _shown(url: str, params: dict[str, Any] | None) -> str:
    """The full request URL, readable (``/query?start=/c/en/bag&rel=/r/IsA``)."""
    return unquote(requests.Request("GET", url, params=params).prepare().url or url)


class ConceptNetError(DataError):
    """ConceptNet could not be reached, answered an error, or sent something not its JSON."""


@dataclass(frozen=True)
class CnEdge:
    """One ConceptNet assertion: ``rel`` (e.g. ``IsA``), start and end node paths, weight."""

    rel: str
    start: str
    end: str
    weight: float


class EdgeSource(Protocol):
    """Anything that lists the edges of a relation starting at a node (API client or dump)."""

    def edges(self, node: str, rel: str) -> list[CnEdge]: ...


def concept_path(key: str, lang: str = "en") -> str:
    """The node path of a ConceptNet-style term key: ``ankle_boot`` -> ``/c/en/ankle_boot``."""
    if not key or "/" in key or " " in key:
        raise ConfigError(
            f"ConceptNet term {key!r}: expected a key like ankle_boot (no / or spaces)"
        )
    return f"/c/{lang}/{key}"


def strip_sense(node: str) -> str:
    """``/c/en/boot/n/wn/artifact`` -> ``/c/en/boot`` (the term-level concept)."""
    parts = node.split("/")
    return "/".join(parts[:4]) if len(parts) > 4 else node


def node_pos(node: str) -> str | None:
    """Part of speech of a sense-tagged node (``/c/en/boot/n`` -> ``n``), else None."""
    parts = node.split("/")
    return parts[4] if len(parts) > 4 and parts[4] in ("n", "v", "a", "r", "s") else None


def _edge(obj: Any, url: str) -> CnEdge:
    try:
        rel = obj["rel"]["@id"].rsplit("/", 1)[-1]
        return CnEdge(rel, obj["start"]["@id"], obj["end"]["@id"], float(obj.get("weight", 1.0)))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConceptNetError(
            f"{url}: malformed ConceptNet edge ({type(exc).__name__}: {exc})"
        ) from None


class ConceptNetClient:
    """A polite ConceptNet API client (see the module docstring).

    Args:
        base_url: the API root, e.g. ``https://api.conceptnet.io`` or a self-hosted ConceptNet.
        cache_dir: directory of the on-disk HTTP cache (``conceptnet.sqlite`` inside it).
        rate: at most this many network requests per second (cache hits are free).
        retries: extra tries after a 429/5xx answer, a timeout or a refused connection.
        backoff: seconds before the first retry, doubled each time.
        timeout: seconds to wait for a connection and for an answer.
        offline: answer from the cache only; a miss is a ConceptNetError.
        page_size: ``limit`` per page; max_pages: pages followed through ``view.nextPage``.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        cache_dir: Path,
        rate: float = 1.0,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 10.0,
        offline: bool = False,
        page_size: int = 1000,
        max_pages: int = 20,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        import requests_cache

        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"ConceptNet base URL {base_url!r}: expected http:// or https://")
        if rate <= 0 or retries < 0 or timeout <= 0 or page_size < 1 or max_pages < 1:
            raise ConfigError(
                f"ConceptNet client: rate={rate}, retries={retries}, timeout={timeout}, "
                f"page_size={page_size}, max_pages={max_pages}: expected positive values"
            )
        self.base_url = base_url.rstrip("/")
        self.rate, self.retries, self.backoff, self.timeout = rate, retries, backoff, timeout
        self.offline, self.page_size, self.max_pages = offline, page_size, max_pages
        self._sleep = sleep if sleep is not None else time.sleep
        self._last = -float("inf")
        self._retry_after: str | None = None
        self.network_requests = 0
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        self.cache_file = Path(cache_dir) / "conceptnet.sqlite"
        self.session = requests_cache.CachedSession(
            str(self.cache_file),
            backend="sqlite",
            expire_after=requests_cache.NEVER_EXPIRE,
            allowable_codes=(200,),
            allowable_methods=("GET",),
        )
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ConceptNetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _wait_turn(self) -> None:
        wait = self._last + 1.0 / self.rate - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last = time.monotonic()

    def _network_get(self, url: str, params: dict[str, Any] | None) -> requests.Response:
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, last))
            self._wait_turn()
            self.network_requests += 1
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout:
                last = f"timed out after {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                last = f"connection failed: {type(exc).__name__}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                self._retry_after = resp.headers.get("Retry-After")
                continue
            if resp.status_code != 200:
                raise ConceptNetError(
                    f"{resp.url}: HTTP {resp.status_code} from ConceptNet; {_HOW}"
                )
            return resp
        raise ConceptNetError(
            f"ConceptNet at {self.base_url} unreachable ({last}, {self.retries + 1} tries, "
            f"{_shown(url, params)}): {_HOW}"
        )

    def _delay(self, attempt: int, last: str) -> float:
        after, self._retry_after = self._retry_after, None
        if last.startswith("HTTP 429") and after and after.isdigit():
            return min(float(after), 60.0)
        return self.backoff * 2 ** (attempt - 1)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` (relative to the base URL) as JSON: from the cache, else the network."""
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        cached = self.session.get(url, params=params, only_if_cached=True, timeout=self.timeout)
        if getattr(cached, "from_cache", False) and cached.status_code == 200:
            resp = cached
        elif self.offline:
            raise ConceptNetError(
                f"{url}: not in the ConceptNet cache {self.cache_file} (offline); "
                "run once with the network, or load the assertions dump"
            )
        else:
            resp = self._network_get(url, params)
        try:
            obj = resp.json()
            if not isinstance(obj, dict) or not isinstance(obj.get("edges", []), list):
                raise ValueError("expected an object with an 'edges' list")
        except ValueError as exc:
            self.session.cache.delete(requests=[resp.request])
            raise ConceptNetError(f"{resp.url}: malformed ConceptNet JSON ({exc})") from None
        return obj

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a paginated answer, following ``view.nextPage`` (up to ``max_pages``)."""
        for _ in range(self.max_pages):
            page = self.get_json(path, params)
            yield page
            nxt = (page.get("view") or {}).get("nextPage")
            if not nxt:
                return
            path, params = nxt, None
        log.warning("ConceptNet %s: stopped after %d pages", path, self.max_pages)

    # -- ConceptNet queries -------------------------------------------------------------------
    def edges(self, node: str, rel: str) -> list[CnEdge]:
        """Edges ``node --rel--> *`` (``/query?start=node&rel=/r/rel``), every page."""
        params = {"start": node, "rel": f"/r/{rel}", "limit": self.page_size}
        return [
            _edge(e, self.base_url)
            for page in self.pages("/query", params)
            for e in page.get("edges", [])
        ]

    def node_edges(self, node: str) -> list[CnEdge]:
        """All edges of a node (``/c/en/term``), every page."""
        return [
            _edge(e, self.base_url)
            for page in self.pages(node, {"limit": self.page_size})
            for e in page.get("edges", [])
        ]

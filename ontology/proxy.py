"""A loopback guard in front of the oxigraph server: no federated queries (``SERVICE``).

``oxigraph serve-read-only`` runs every SPARQL ``SERVICE <url> {...}`` clause by sending an HTTP
request to ``url``, and has no option to turn federation off. A "read-only" endpoint would then
make requests on the caller's behalf (to the machine's loopback services, or an intranet), and
with ``--cors`` any web page could read the answers. So ``kgfilters serve`` binds the address the
user asked for itself, answers ``403`` to every request whose SPARQL query uses ``SERVICE``, and
forwards the others, unchanged, to the oxigraph server, which listens on 127.0.0.1 only.

A query is found where the SPARQL 1.1 Protocol puts it (``query`` in the URL or in a form body,
or an ``application/sparql-query`` body). The check (``uses_service``) is lexical and errs on the
side of refusing: after SPARQL's ``\\u`` escapes are expanded and comments, strings and IRIs are
blanked, any ``SERVICE`` keyword that is not part of a name or variable refuses the query.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["GuardProxy", "queries_in_request", "uses_service"]

log = logging.getLogger(__name__)

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
# Comments, strings (long forms first) and IRIs: blanked before looking for the keyword.
_OPAQUE = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\\n\r]|\\.)*'|\"(?:[^\"\\\n\r]|\\.)*\""
    r"|<[^<>\"{}|^`\\\x00-\x20]*>|#[^\n\r]*",
    re.DOTALL,
)
# SERVICE as a keyword: not inside a prefixed name, a variable or a longer word.
_SERVICE = re.compile(r"(?<![\w:?$\-])SERVICE(?![\w:\-])", re.IGNORECASE)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if code <= 0x10FFFF else m.group(0)

    return _ESCAPE.sub(one, text)


def uses_service(query: str) -> bool:
    """Whether a SPARQL query has a ``SERVICE`` clause (federation); errs towards True."""
    return bool(_SERVICE.search(_OPAQUE.sub(" ", _unescape(query))))


def queries_in_request(path: str, content_type: str, body: bytes) -> list[str]:
    """Every SPARQL query text an HTTP request carries (SPARQL 1.1 Protocol: ``query`` in the URL,
    in an ``application/x-www-form-urlencoded`` body, or an ``application/sparql-query`` body)."""
    found = parse_qs(urlsplit(path).query, keep_blank_values=True).get("query", [])
    kind = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/x-www-form-urlencoded":
        found += parse_qs(text, keep_blank_values=True).get("query", [])
    elif kind == "application/sparql-query":
        found.append(text)
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    server_version = "kgfilters-serve"

    def _refuse(self, status: int, message: str) -> None:
        data = (message + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") and length is None:
            self._refuse(411, "send the request body with a Content-Length")
            return
        if self.headers.get("Content-Encoding", "identity").lower() != "identity":
            self._refuse(415, "compressed request bodies are not accepted")
            return
        try:
            body = self.rfile.read(int(length)) if length else b""
        except ValueError:
            self._refuse(400, "bad Content-Length")
            return
        queries = queries_in_request(self.path, self.headers.get("Content-Type", ""), body)
        if any(uses_service(q) for q in queries):
            log.info("refused a query with SERVICE from %s", self.client_address[0])
            self._refuse(403, "SERVICE (federated query) is disabled on this endpoint")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection("127.0.0.1", self.server.backend_port, timeout=None)
        try:
            conn.request(self.command, self.path, body=body if body or length else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            self._refuse(502, f"the oxigraph server did not answer ({type(exc).__name__})")
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _forward

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.client_address[0], format % args)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    backend_port: int


class GuardProxy:
    """The guard bound to ``host:port`` (bound at construction: a busy port fails here, before
    anything is started), forwarding to 127.0.0.1:``backend_port`` once ``start`` is called."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Bound", (_ProxyServer,), {"address_family": family})
        self.server: _ProxyServer = server_class((host, port), _Handler)
        self.port = int(self.server.server_address[1])
        self.thread: threading.Thread | None = None

    def start(self, backend_port: int) -> None:
        self.server.backend_port = backend_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="kgfilters-serve-guard",
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(timeout=10)
            self.thread = None
        self.server.server_close()

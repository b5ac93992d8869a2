"""The page: playbach in a browser, served over HTTP by ``playbach serve``.

The files in ``web/`` (the page, its scripts and style, and MQTT.js's browser build, vendored
with its licence) are served as they are: no build step, nothing fetched from elsewhere.
``settings.json`` tells the page what only the server knows: where the broker's websockets
listener is, the topic prefix, the controls and their ranges (the server's table), the payload
tables of the wire (shared/playbach_protocol.py: the page's decoder reads them, so a field added
there is checked and shown without a change to the page) and the primers. The page then talks
to the broker, not to this server: it subscribes over MQTT over WebSockets and publishes
controls, so it works with any broker that has a websockets listener (the embedded one,
mosquitto with ``protocol websockets``).
"""
import gzip
import hashlib
import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import playbach_protocol as protocol
from playbach.live import wire
from playbach.live.broker import beyond_loopback

log = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
HOST, PORT = "127.0.0.1", 8080
WS_PORT = 9001  # mosquitto's customary websockets port: the embedded broker uses it too
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# The browser loads nothing but this server's files, and connects only to brokers (ws:, wss:).
POLICY = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
          "worker-src blob:; "  # MQTT.js keeps its timers in a worker of its own
          "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
GZIP_FROM = 1024  # bytes: smaller files go as they are


def controls():
    """The commands the page offers and what each takes, read from the server's table of
    controls: ``{command: None}`` without an argument, else ``{"argument": name, "kind":
    "integer" | "number" | "text", "min": lowest, "max": highest}`` (None: no bound)."""
    return {command: spec and {"argument": spec[0], "kind": spec[1], "min": spec[2],
                               "max": spec[3]}
            for command, spec in wire.CONTROLS.items()}


def payloads():
    """The wire's payload tables as the page's decoder reads them: the limits checked before
    parsing, and for ``event``, ``voice`` and ``status`` their fields in order, each
    ``{"name", "kind", "min", "max", "source"}``: ``kind`` as the table names it ("integer",
    "number", "integer or null", "text", "notes", "integer per note") or "one of" with its
    ``values``; ``source`` "sent", "optional" or "derived" (the page checks a derived field's
    kind and range; deriving it again is the players' work)."""
    def spec(name, kind, low, high, source):
        field = {"name": name, "kind": kind, "min": low, "max": high,
                 "source": "derived" if callable(source) else source}
        if isinstance(kind, tuple):
            field.update(kind="one of", values=list(kind))
        return field

    return {"limits": {"payload": protocol.MAX_PAYLOAD, "brackets": protocol.MAX_BRACKETS,
                       "notes": protocol.MAX_NOTES},
            "tables": {what: [spec(*field) for field in fields]
                       for what, fields in (protocol.EVENT, protocol.VOICE, protocol.STATUS)}}


def settings(prefix=protocol.DEFAULT_PREFIX, ws_port=WS_PORT, ws_url=None, primers=()):
    """What the page is told, as served at ``/settings.json``: the schema version, the broker's
    websockets address (``url``; else ``port`` on the page's own host; neither: none known),
    the topic prefix, the controls (:func:`controls`), the payload tables (:func:`payloads`)
    and the names of the shipped primers."""
    return {"v": protocol.SCHEMA_VERSION, "prefix": prefix,
            "broker": {"url": ws_url or None, "port": None if ws_url else ws_port or None},
            "controls": controls(), "wire": payloads(), "primers": sorted(primers)}


def page_address(host, port):
    """The address to open the page at, for the log: this machine's name when the server
    listens on every interface."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = "[%s]" % host
    return "http://%s:%d/" % (host, port)


class File:
    """A file served: its type, its bytes (and gzipped, if worth it) and an ETag."""

    def __init__(self, content_type, body):
        self.type, self.body = content_type, body
        self.gzipped = gzip.compress(self.body, mtime=0) if len(self.body) >= GZIP_FROM else None
        self.etag = '"%s"' % hashlib.sha256(self.body).hexdigest()[:20]


class PageServer:
    """Serves the page's files and ``settings`` on ``host:port`` from a daemon thread:
    ``start()``, ``stop()``."""

    def __init__(self, host=HOST, port=PORT, page_settings=None, folder=WEB):
        self.host, self.port = host, port
        self.files = {"/" + path.name: File(TYPES[path.suffix], path.read_bytes())
                      for path in sorted(folder.iterdir()) if path.suffix in TYPES}
        if "/index.html" not in self.files:
            raise OSError("the page's files are missing from %s" % folder)
        self.files["/"] = self.files["/index.html"]
        self.files["/settings.json"] = File("application/json",
                                            json.dumps(page_settings or settings()).encode())
        self._server = None

    def start(self):
        """Listen; ``OSError`` naming the address when that cannot be done."""
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            server_version = "playbach"

            def do_GET(self):
                self.respond(body=True)

            def do_HEAD(self):
                self.respond(body=False)

            def respond(self, body):
                served = files.get(self.path.split("?", 1)[0])
                if served is None:
                    self.send_error(HTTPStatus.NOT_FOUND, "no such file: the page is at /")
                    return
                if self.headers.get("If-None-Match") == served.etag:
                    self.send_response(HTTPStatus.NOT_MODIFIED)
                    self.send_header("ETag", served.etag)
                    self.end_headers()
                    return
                content = served.body
                zipped = served.gzipped and "gzip" in self.headers.get("Accept-Encoding", "")
                self.send_response(HTTPStatus.OK)
                if zipped:
                    content = served.gzipped
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Type", served.type)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", served.etag)
                self.send_header("Cache-Control", "no-cache")  # revalidated: the ETag says
                self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Security-Policy", POLICY)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                if body:
                    self.wfile.write(content)

            def log_message(self, format, *args):
                log.debug("page: %s %s", self.address_string(), format % args)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            daemon_threads = True

        try:
            self._server = Server((self.host, self.port), Handler)
        except OSError as error:
            raise OSError("cannot serve the page on %s:%d: %s"
                          % (self.host, self.port, error.strerror or error)) from None
        threading.Thread(target=self._server.serve_forever, name="page", daemon=True).start()
        log.info("the page: %s%s", page_address(self.host, self.port),
                 " (listening on %s, beyond this machine)" % self.host
                 if beyond_loopback(self.host) else "")
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

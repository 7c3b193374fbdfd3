"""A real S3 endpoint for tests (moto's standalone server on 127.0.0.1), and a proxy in
front of it that injects S3 faults over HTTP (throttling, errors) where a test asks."""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_DOWN = (503, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                  b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL = (500, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>"
                 b"<Message>We encountered an internal error.</Message></Error>")
DENIED = (403, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
               b"<Message>Access Denied</Message></Error>")


@dataclass
class Fault:
    """Answer `response` instead of forwarding, for requests of `method` whose path matches
    `path`, on every `every`-th match, after `after` matches have gone through."""

    method: str
    path: str
    response: tuple[int, bytes]
    every: int = 1
    after: int = 0
    seen: int = 0
    injected: int = 0

    def hit(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.seen - self.after) % self.every:
            return False
        self.injected += 1
        return True


@dataclass
class FaultProxy:
    target: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    fault = next((f for f in proxy.faults if f.hit(self.command, self.path)),
                                 None)
                if fault:
                    status, payload = fault.response
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "transfer-encoding")}
                try:  # one upstream connection per client connection, kept alive
                    conn = self.upstream
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                except (AttributeError, OSError, http.client.HTTPException):
                    self.upstream = conn = http.client.HTTPConnection(*proxy.target, timeout=60)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

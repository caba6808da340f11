"""A local HTTP server on 127.0.0.1 that records webhook POSTs and answers with a chosen status."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.location = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        # shutdown() waits for serve_forever to notice: poll often, not every 0.5 s (the default).
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # the body waits for no delayed ACK of the headers (~40 ms)

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def receiver(settings):
    """The receiver listens on loopback: deliveries to it are allowed as on an on-premise deployment."""
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()

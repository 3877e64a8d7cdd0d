"""A real local HTTP server that records what it receives (webhook and Rasa stand-in peers)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    """Listens on 127.0.0.1; answers every POST with `status` and keeps the requests. With
    `hold`, each answer waits until that event is set (a peer that is slow to answer)."""

    def __init__(self, status: int = 200, hold: threading.Event | None = None) -> None:
        self.status = status
        self.requests: list[dict] = []
        self.received = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                recorder.received.set()
                if hold is not None:
                    hold.wait(120)
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": recorder.status < 300}).encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A local HTTP server on 127.0.0.1 that plays the original checkpoint hosts and the Hugging Face Hub in tests.

Nothing leaves the machine: the server binds 127.0.0.1 on a free port, runs in a daemon thread, counts every
request, and shuts itself down after `max_seconds` even if a test forgets to.

- As the original hosts (through `S3PRL_HF_MIRROR=<server.url>/originals`): `GET /originals/<host>/<path>` serves
  `files[<host>/<path>]`, with HTTP Range support, and per-file faults (`faults[<host>/<path>]`): "404", "500",
  "truncate:<n>" (announces the full length, sends n bytes and closes), "slow:<bytes per second>", "ignore-range".
- As the Hub (`HF_ENDPOINT=<server.url>`): `HEAD|GET /<org>/<repo>/resolve/<revision>/<file>` answers as
  huggingface.co does (`X-Repo-Commit`, `ETag`, `Content-Length`; 404 with `X-Error-Code: RepoNotFound` or
  `EntryNotFound`), serving `hub[<org>/<repo>][<file>]`.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LoopbackServer:
    """Start with `with LoopbackServer(files=...) as server:`; `server.url` is `http://127.0.0.1:<port>`."""

    def __init__(self, files: dict[str, bytes] | None = None, hub: dict[str, dict[str, bytes]] | None = None,
                 faults: dict[str, str] | None = None, max_seconds: float = 600.0):
        self.files = dict(files or {})
        self.hub = {repo: dict(content) for repo, content in (hub or {}).items()}
        self.faults = dict(faults or {})
        self.requests: Counter = Counter()  # (method, path) -> count
        self.ranges: list[str] = []  # Range headers received
        self.max_seconds = max_seconds
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._watchdog = threading.Timer(self.max_seconds, self._server.shutdown)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def __exit__(self, *exc) -> None:
        self._watchdog.cancel()
        self._server.shutdown()
        self._server.server_close()

    def count(self, fragment: str = "", method: str | None = None) -> int:
        """Requests whose path contains `fragment` (and whose method is `method`)."""
        return sum(n for (m, path), n in self.requests.items() if fragment in path and method in (None, m))


def _handler(server: LoopbackServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def end_headers(self):
            # One request per connection: a client's pooled connection must not outlive the server's `with` block.
            self.send_header("Connection", "close")
            self.close_connection = True
            super().end_headers()

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            self._serve(head=False)

        def _serve(self, head: bool):
            path = self.path.split("?", 1)[0]
            server.requests[(self.command, path)] += 1
            if path.startswith("/originals/"):
                key = path[len("/originals/"):]
                self._original(key, server.files.get(key), server.faults.get(key, ""), head)
                return
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if match:
                self._hub(*match.groups(), head=head)
                return
            self._status(404)

        def _original(self, key, content, fault, head):
            if content is None or fault == "404":
                self._status(404)
                return
            if fault == "500":
                self._status(500)
                return
            start = 0
            range_header = self.headers.get("Range")
            if range_header and fault != "ignore-range":
                server.ranges.append(range_header)
                start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
                if start >= len(content):
                    self._status(416)
                    return
            body = content[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest()[:16] + '"')
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
            self.end_headers()
            if head:
                return
            if fault.startswith("truncate:"):
                self.wfile.write(body[: int(fault.split(":")[1])])
                self.wfile.flush()
                self.close_connection = True
                return
            rate = float(fault.split(":")[1]) if fault.startswith("slow:") else None
            step = max(1, int(rate / 20)) if rate else len(body) or 1
            for offset in range(0, len(body), step):
                try:
                    self.wfile.write(body[offset: offset + step])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if rate:
                    time.sleep(step / rate)

        def _hub(self, repo, revision, filename, head):
            if repo not in server.hub:
                self._status(404, {"X-Error-Code": "RepoNotFound"})
                return
            content = server.hub[repo].get(filename)
            if content is None:
                self._status(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if not head:
                self.wfile.write(content)

        def _status(self, code, headers=None):
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile skr-broker admin API for tests/attack/test_evil_admin_broker.sh.

    evil_admin_broker.py CERT KEY PORT_FILE MODE_FILE

Serves HTTPS on 127.0.0.1 (an ephemeral port, written to PORT_FILE) with a
certificate the operator's CA signed, so `skrctl broker` talks to it as to
its own admin listener.  Every GET and POST answers what the mode in
MODE_FILE (read on every request) says for that path: wrong JSON types,
members that are not objects, trailing bytes, an embedded NUL, deep nesting,
oversized bodies, escape sequences in every text.  Loopback only; never
checks the token.
"""
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ESC = "\x1b[2J\x1b[H\x1b]0;owned\x07\u009b31m\x7f"


def j(o):
    return json.dumps(o).encode()


SET = {"id": 1, "state": "queued", "label": "l" + ESC, "created": 1700000000,
       "pcrs": {"sha256" + ESC: {"7" + ESC: "00"}}, "note": ESC}

# mode -> {path: (status, body)}; "*" answers every other path.
MODES = {
    "keys-object": {"/v1/keys": (200, j({"keys": []}))},
    "keys-escapes": {"/v1/keys": (200, j([1, "x", None, [], {"key_id": "k" + ESC, "created": 1e300},
                                          {"key_id": 7, "created": -99999999999999}]))},
    "key-array": {"*": (200, j([{"policy": {}}]))},
    "key-escapes": {"*": (200, j({"policy": {"tee": ESC}, "refsets": [SET, 5, "x"]}))},
    "queue-members": {"/v1/keys": (200, j([{"key_id": "k1"}, {"key_id": "../x"}, 3])),
                      "/v1/keys/k1/refsets": (200, j([1, "queued", None, [SET], SET]))},
    "queue-refsets-object": {"/v1/keys": (200, j([{"key_id": "k1"}])),
                             "/v1/keys/k1/refsets": (200, j({"state": "queued"}))},
    "audit-object": {"*": (200, j({"rows": []}))},
    "audit-then-object": {},  # first audit answer [], then {} (follow mode)
    "trailing": {"*": (200, b"[] <script>")},
    "nul": {"*": (200, b'[]\x00{"key_id": "hidden"}')},
    "deep": {"*": (200, b"[" * 100000 + b"]" * 100000)},
    "empty-200": {"*": (200, b"")},
    "huge": {"*": (200, b"[" + b'"AAAAAAAA",' * (200 * 1024) + b'"A"]')},
    "refusal-escapes": {"*": (400, j({"error": "bad" + ESC, "reason": "pcr_mismatch" + ESC,
                                      "detail": "detail" + ESC}))},
    "refusal-not-json": {"*": (500, b"<html>\x1b[2J oops</html>")},
    "refset-id-escapes": {"*": (201, j({"id": "\x1b[2J"}))},
    "json-escapes": {"/v1/keys": (200, j([{"key_id": "k" + ESC}]))},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(min(n, 1 << 20))
        with open(self.server.mode_file) as f:
            mode = f.read().strip()
        path = self.path.split("?")[0]
        if mode == "audit-then-object":
            self.server.calls += 1
            status, body = (200, b"[]") if self.server.calls == 1 else (200, j({"rows": 1}))
        else:
            table = MODES.get(mode, {})
            status, body = table.get(path, table.get("*", (404, j({"reason": "not_found"}))))
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client stopped reading: what it should do

    do_GET = answer
    do_POST = answer
    do_DELETE = answer


def main():
    cert, key, port_file, mode_file = sys.argv[1:5]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.mode_file = mode_file
    srv.calls = 0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

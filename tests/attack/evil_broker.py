#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile skr broker for tests/attack/test_evil_broker.sh.

    evil_broker.py CERT KEY PORT_FILE MODE_FILE

Serves HTTPS on 127.0.0.1 (an ephemeral port, written to PORT_FILE) with a
certificate the client's CA signed, so the client talks to it as to its own
broker.  POST /v1/challenge answers like a real broker (a fresh 32-byte
nonce, PCRs 0, 7, 11) unless the mode breaks the challenge; POST /v1/release
answers what the mode in MODE_FILE (read on every request) says.  Loopback
only; never verifies anything.
"""
import base64
import json
import os
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALG = "ECDH-P256-HKDF-SHA256-A256GCM"
# A real P-256 point: the vTPM's ECDH works, the tag then does not match.
EPK = "BIqq7JLos1LzXReTAZudT4vWO8BGSpQDWUkshKTCWCIZQQ152aIXZLRlCIs0y9AYmN9d+sDhO1q4cbSK9YVjHzo="
ESCAPES = "\x1b[2J\x1b[H\x1b]0;owned\x07\x1b]8;;https://evil/\x07link\x1b]8;;\x07\u009b31m\x7f"


def b64(n):
    return base64.b64encode(os.urandom(n)).decode()


def good_challenge():
    return {"nonce": b64(32), "expires": int(time.time()) + 60,
            "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}


def wrapped(**over):
    w = {"alg": ALG, "epk": EPK, "iv": b64(12), "ciphertext": b64(32), "tag": b64(16)}
    w.update(over)
    return {"wrapped": w}


# mode -> (challenge answer or None for the good one, release (status, body bytes, send length))
def answer(mode, path):
    j = lambda o: json.dumps(o).encode()
    if path == "/v1/challenge":
        if mode == "nonce-short":
            c = good_challenge()
            c["nonce"] = b64(16)
            return 200, j(c), True
        if mode == "pcr-99":
            c = good_challenge()
            c["pcrs"]["indexes"] = [0, 7, 99]
            return 200, j(c), True
        if mode == "challenge-types":
            return 200, j({"nonce": 7, "expires": "soon", "pcrs": "all"}), True
        return 200, j(good_challenge()), True
    table = {
        "alg-null": (200, j({"wrapped": {"alg": None}}), True),
        "wrapped-array": (200, j({"wrapped": [1, 2, 3]}), True),
        "epk-number": (200, j(wrapped(epk=5)), True),
        "iv-long": (200, j(wrapped(iv=b64(64))), True),
        "ciphertext-huge": (200, j(wrapped(ciphertext=b64(4096))), True),
        "not-json": (200, b"<html>\x1b[2J hello</html>", True),
        "body-10mb": (200, b'{"wrapped": "' + b"A" * (10 << 20) + b'"}', True),
        "body-10mb-nolength": (200, b'{"wrapped": "' + b"A" * (10 << 20) + b'"}', False),
        "detail-1mb": (403, j({"error": "denied", "reason": "pcr_mismatch",
                               "detail": "x" * (1 << 20)}), True),
        "detail-2kb": (403, j({"error": "denied", "reason": "pcr_mismatch",
                               "detail": "PCR 7: " + "y" * 2048}), True),
        "mis-wrapped": (200, j(wrapped()), True),
        "stall": (200, j(wrapped()), True),
        "denial-escapes": (403, j({"error": "denied", "reason": "pcr_mismatch",
                                   "detail": "PCR 7: seen 00" + ESCAPES + " expected 11"}), True),
        "denial-raw-bytes": (403, b'{"error": "denied", "reason": "pcr_mismatch", "detail": "PCR 7:'
                             b' \x1b[2J \xc2\x9b31m \x9b \xff\xfe \x7f \x07 end"}', True),
        "reason-escapes": (403, j({"error": "denied", "reason": "pcr_mismatch" + ESCAPES,
                                   "detail": "x"}), True),
        "error-400-escapes": (400, j({"error": "bad" + ESCAPES, "reason": "malformed",
                                      "detail": ESCAPES}), True),
    }
    return table.get(mode, (500, b"{}", True))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(n, 1 << 20))
        with open(self.server.mode_file) as f:
            mode = f.read().strip()
        if mode == "stall" and self.path == "/v1/release":
            time.sleep(4)  # holds the client while the test looks at it
        status, body, with_length = answer(mode, self.path)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if with_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client stopped reading: what it should do


def main():
    cert, key, port_file, mode_file = sys.argv[1:5]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.mode_file = mode_file
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

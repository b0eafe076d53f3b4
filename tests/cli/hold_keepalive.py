"""One keep-alive HTTPS connection held across a broker's TLS reload.

Usage: hold_keepalive.py PORT CA_PEM PATH

Opens one TLS connection to 127.0.0.1:PORT, sends GET PATH (HTTP/1.1,
keep-alive) and prints "first STATUS FINGERPRINT LOCALPORT" (the SHA-256 of
the certificate this connection got).  Then waits for a line on stdin and
sends the same request on the same connection: prints "second STATUS
FINGERPRINT LOCALPORT", or "second failed: WHY" when the connection was
dropped.
"""
import hashlib, socket, ssl, sys

port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
buf = b""


def request():
    global buf
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n" % path).encode())
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    status = head.split(b" ")[1].decode()
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(buf) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        buf += chunk
    buf = buf[length:]
    return status


print("first", request(), fp, s.getsockname()[1], flush=True)
sys.stdin.readline()
try:
    print("second", request(), hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest(),
          s.getsockname()[1], flush=True)
except (OSError, ConnectionError) as e:
    print("second failed:", e, flush=True)

"""A recording TLS proxy in front of skr-broker (for replay tests).

Usage: record_proxy.py CERT KEY CA UPSTREAM_PORT PORT_FILE RECORD_DIR [PATCH_FILE]

Listens on 127.0.0.1 (a free port, written to PORT_FILE) with the broker's
own certificate, forwards each request to https://127.0.0.1:UPSTREAM_PORT
and stores each POST body as RECORD_DIR/N-<last path part>.json and the
answer as N-<last path part>.answer.json ({"status", "time", "body"}), so
that a test can replay exactly what a real client sent and see exactly what
it was answered.

PATCH_FILE (optional): while that file exists, it holds a JSON object whose
members replace the "evidence" members of every request that has one (the
attacker on the path swapping parts of a real VM's evidence); its member
"tpm", if any, is not evidence: its members replace those of a challenge's
"tpm" object (tee "tpm": the EK certificate, EK and AK public areas the
credential is made for).  The recording is of the patched body, what the
broker saw.
"""
import http.client, http.server, json, os, ssl, sys, threading, time

cert, key, ca, upstream, port_file, rec = sys.argv[1:7]
patch_file = sys.argv[7] if len(sys.argv) > 7 else None
count = [0]
lock = threading.Lock()
up_ctx = ssl.create_default_context(cafile=ca)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self, body, name=None):
        c = http.client.HTTPSConnection("127.0.0.1", int(upstream), context=up_ctx, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        c.request(self.command, self.path, body, headers)
        r = c.getresponse()
        data = r.read()
        if name:
            with open(os.path.join(rec, name.replace(".json", ".answer.json")), "w") as f:
                json.dump({"status": r.status, "time": time.time(),
                           "body": data.decode(errors="replace")}, f)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.forward(None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if patch_file and os.path.exists(patch_file):
            req = json.loads(body)
            with open(patch_file) as f:
                patch = json.load(f)
            tpm_patch = patch.pop("tpm", None)
            if isinstance(req.get("evidence"), dict):
                req["evidence"].update(patch)
                body = json.dumps(req).encode()
            elif isinstance(tpm_patch, dict) and isinstance(req.get("tpm"), dict):
                req["tpm"].update(tpm_patch)
                body = json.dumps(req).encode()
        with lock:
            count[0] += 1
            name = f"{count[0]}-{self.path.rstrip('/').rsplit('/', 1)[-1]}.json"
        with open(os.path.join(rec, name), "wb") as f:
            f.write(body)
        self.forward(body, name)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
srv.handle_error = lambda *a: None	# a client that gave up mid-answer is no news
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()

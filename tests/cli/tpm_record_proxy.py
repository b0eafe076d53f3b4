"""A recording TCP proxy between a tss2 swtpm TCTI and swtpm (for
tests/cli/test_tpm_param_enc.sh).

Usage: tpm_record_proxy.py UPSTREAM_PORT PORT_FILE RECORD_DIR

swtpm listens on a pair of ports: P for TPM commands, P + 1 for its control
channel, and the TCTI "swtpm:host=127.0.0.1,port=P" connects to both.  This
listens on a free pair of loopback ports Q, Q + 1 (Q written to PORT_FILE
once both listen) and forwards Q to UPSTREAM_PORT and Q + 1 to
UPSTREAM_PORT + 1.  Every byte of the command channel is recorded before it
is forwarded: connection N's client-to-TPM bytes go to RECORD_DIR/N.cmd, the
TPM's answers to RECORD_DIR/N.rsp (the control channel is forwarded, not
recorded).  Because bytes are recorded before they are passed on, a client
that has exited has had all of its traffic recorded.
"""
import os, socket, sys, threading

upstream, port_file, rec = int(sys.argv[1]), sys.argv[2], sys.argv[3]
count = [0]
lock = threading.Lock()


def pump(src, dst, path):
    f = open(path, "ab") if path else None
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if f:
                f.write(data)
                f.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        if f:
            f.close()
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, up_port, record):
    while True:
        c, _ = listener.accept()
        try:
            u = socket.create_connection(("127.0.0.1", up_port))
        except OSError:
            c.close()
            continue
        cmd = rsp = None
        if record:
            with lock:
                count[0] += 1
                n = count[0]
            cmd = os.path.join(rec, "%d.cmd" % n)
            rsp = os.path.join(rec, "%d.rsp" % n)
            open(cmd, "wb").close()
            open(rsp, "wb").close()
        threading.Thread(target=pump, args=(c, u, cmd), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, rsp), daemon=True).start()


def pair():
    while True:
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind(("127.0.0.1", 0))
        p = a.getsockname()[1]
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            b.bind(("127.0.0.1", p + 1))
        except OSError:
            a.close()
            b.close()
            continue
        return a, b, p


a, b, port = pair()
a.listen(8)
b.listen(8)
threading.Thread(target=serve, args=(b, upstream + 1, False), daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(port_file + ".tmp", port_file)
serve(a, upstream, True)

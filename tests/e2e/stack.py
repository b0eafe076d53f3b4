"""The host side of an e2e boot: a TLS broker on loopback, the guest's swtpm
(provisioned as a fake Azure vTPM) and QEMU under TCG with OVMF.

Every process started here is stopped by Stack.close(), which the harness
calls on every exit path (context manager).  Nothing listens on anything but
127.0.0.1; the guest reaches the broker through QEMU user networking, whose
10.0.2.2 is the host's loopback.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

GUEST_HOST = "10.0.2.2"          # the host's loopback as QEMU user networking shows it
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {r.returncode}: {r.stderr.strip()[-800:]}")
    return r


def make_tls(d, days=30):
    """A throwaway CA and a broker certificate valid for the guest's view of the host."""
    o = ["openssl"]
    run(o + ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", str(days), "-subj", "/CN=skr e2e CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem"])
    run(o + ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=skr e2e broker", "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr"])
    with open(f"{d}/san.ext", "w") as f:
        f.write(f"subjectAltName=IP:{GUEST_HOST},IP:127.0.0.1\n")
    run(o + ["x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
             "-CAcreateserial", "-days", str(days), "-extfile", f"{d}/san.ext", "-out", f"{d}/server.pem"])


TLS_FILES = ("ca.pem", "ca.key", "server.pem", "server.key")


def client_config(out, root):
    """At image build time (build-image.sh): the broker's TLS material and ports, and
    the guest's /etc/skr/client.json and /etc/skr/broker-ca.pem naming them.  The
    initramfs images carry the configuration (skr-unlock and the token plugin take the
    brokers and the CA from it, never from the LUKS2 header), so it must be in the root
    before they are built; Stack.start_broker then serves with the same CA, certificate
    and ports (OUTDIR/broker-tls, BROKER_PORT and ADMIN_PORT in image.env).  Prints
    the image.env lines."""
    d = f"{out}/broker-tls"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    make_tls(d)
    ports = (free_port(), free_port())
    etc = f"{root}/etc/skr"
    os.makedirs(etc, exist_ok=True)
    shutil.copy(f"{d}/ca.pem", f"{etc}/broker-ca.pem")
    with open(f"{etc}/client.json", "w") as f:
        json.dump({"brokers": [f"https://{GUEST_HOST}:{ports[0]}"], "ca": "/etc/skr/broker-ca.pem",
                   "admin": [f"https://{GUEST_HOST}:{ports[1]}"]}, f, indent=2)
        f.write("\n")
    for name in ("client.json", "broker-ca.pem"):
        os.chown(f"{etc}/{name}", 0, 0)
        os.chmod(f"{etc}/{name}", 0o644)
    print(f"BROKER_PORT={ports[0]}\nADMIN_PORT={ports[1]}")


def free_port(pair=False):
    """A free loopback port; with pair, one whose successor is free too (swtpm's TCTI
    finds the control channel at port + 1)."""
    while True:
        s, t = socket.socket(), socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if pair:
                t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            s.close()
            t.close()


LUKS_AREA = 32 << 20      # build-image.sh's --reduce-device-size: the LUKS2 header lies within


def copy_range(src, dst, off, length, dst_off=None):
    """length bytes of src at off into dst at dst_off (default: the same offset)."""
    dst_off = off if dst_off is None else dst_off
    mode = "r+b" if os.path.exists(dst) else "w+b"
    with open(src, "rb") as i, open(dst, mode) as o:
        i.seek(off)
        o.seek(dst_off)
        left = length
        while left:
            chunk = i.read(min(left, 4 << 20))
            if not chunk:
                raise RuntimeError(f"{src} ends before {off + length}")
            o.write(chunk)
            left -= len(chunk)


def wait_port(port, proc, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc, sig=signal.SIGTERM, grace=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Console:
    """The guest's serial console: every line with the host time it arrived."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.lines = []
        self.partial = ""
        self.cond = threading.Condition()
        self.log = open(log_path, "a", buffering=1, errors="replace")
        self.start = time.monotonic()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            *full, buf = re.split(rb"\r?\n", buf)
            with self.cond:
                for raw in full:
                    self._add(raw)
                # A prompt has no newline: expect() sees the unfinished line too.
                self.partial = buf.decode("utf-8", "replace")
                self.cond.notify_all()
        with self.cond:
            if buf:
                self._add(buf)
            self.partial = ""
            self.lines.append((time.monotonic(), None))      # end of output
            self.cond.notify_all()

    def _add(self, raw):
        text = raw.decode("utf-8", "replace").replace("\r", "")
        self.lines.append((time.monotonic(), text))
        self.log.write(text + "\n")

    def expect(self, pattern, timeout, start=0, forbid=None, prompt=False):
        """Waits for a line matching pattern (from index start); returns (index, match).
        With prompt, the unfinished last line counts too, as index len(lines): a
        prompt has no newline.  forbid is checked against it always.
        Raises if forbid matches first, the guest stops, or the time runs out."""
        rx = re.compile(pattern)
        bad = re.compile(forbid) if forbid else None
        end = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    _, text = self.lines[i]
                    if text is None:
                        raise AssertionError(f"guest stopped before /{pattern}/")
                    if bad and bad.search(text):
                        raise AssertionError(f"console showed /{forbid}/ before /{pattern}/: {text}")
                    m = rx.search(text)
                    if m:
                        return i, m
                    i += 1
                if bad and bad.search(self.partial):
                    raise AssertionError(f"console showed /{forbid}/ before /{pattern}/")
                m = rx.search(self.partial) if prompt else None
                if m:
                    return i, m
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no /{pattern}/ on the console within {timeout}s")
                self.cond.wait(left)

    def when(self, index):
        """Host time at which line index arrived (now for the unfinished line)."""
        with self.cond:
            return self.lines[index][0] if index < len(self.lines) else time.monotonic()

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def text(self):
        with self.cond:
            return [t for _, t in self.lines if t is not None]


class Stack:
    def __init__(self, build, image, work, reuse=False):
        """reuse: WORK holds the disk, firmware variables, vTPM and broker of
        an earlier run (powercut.py --resume): kept as they are."""
        self.build, self.image, self.work = build, image, work
        self.broker = self.qemu = self.tpm = self.tang = None
        self.bdir = f"{work}/broker"
        self.tpmdir = f"{work}/tpm"
        self.az = f"{work}/az"
        for d in (self.bdir, f"{self.bdir}/vcek", self.tpmdir, self.az):
            os.makedirs(d, exist_ok=True)
        self.vars = f"{work}/OVMF_VARS.fd"
        # The guest writes to its disk (enrollment, journal): boot a copy.
        self.disk = f"{work}/disk.img"
        if not (reuse and os.path.exists(self.disk) and os.path.exists(self.vars)):
            shutil.copy(OVMF_VARS, self.vars)
            run(["cp", "--sparse=always", f"{image}/disk.img", self.disk])
        self.env = dict(l.strip().split("=", 1) for l in open(f"{image}/image.env") if "=" in l)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        stop(self.qemu, signal.SIGKILL)
        stop(self.tpm)
        stop(self.broker)
        stop(self.tang)

    # --- the guest's vTPM -------------------------------------------------
    def provision_tpm(self):
        """A fake Azure vTPM: AK and test-signed HCL report written into swtpm."""
        self._fake_azure([], self.az)

    def provision_tl(self, ca_dir):
        """The guest's vTPM made like Azure's Trusted Launch vTPM (no HCL report,
        the AK at 0x81000003 certified in NV 0x01C101D0 by a test root and an
        intermediate without AIA, both in CA_DIR, made there if missing)."""
        os.makedirs(f"{self.work}/tl", exist_ok=True)
        self._fake_azure(["provision-tl"], f"{self.work}/tl", ["--ca-dir", ca_dir])

    def _fake_azure(self, command, out, args=()):
        """Runs tests/tools/skr-fake-azure against the guest's TPM state, through a
        swtpm of its own on a loopback port, between boots."""
        port = free_port(pair=True)
        tpm = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.tpmdir}",
                                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                                "--flags", "not-need-init,startup-clear"])
        try:
            if not wait_port(port, tpm):
                raise RuntimeError("swtpm did not start")
            run([f"{self.build}/tools/skr-fake-azure"] + command +
                ["--tcti", f"swtpm:host=127.0.0.1,port={port}", "--out", out] + list(args))
        finally:
            stop(tpm)

    def start_tpm(self):
        sock = f"{self.tpmdir}/qemu.ctrl"
        if os.path.exists(sock):
            os.unlink(sock)
        self.tpm = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.tpmdir}",
                                     "--ctrl", f"type=unixio,path={sock}", "--terminate",
                                     "--log", f"file={self.work}/swtpm.log"])
        for _ in range(100):
            if os.path.exists(sock):
                return sock
            time.sleep(0.05)
        raise RuntimeError("swtpm did not create its socket")

    # --- the broker ---------------------------------------------------------
    def start_broker(self):
        d = self.bdir
        self.ports = (int(self.env["BROKER_PORT"]), int(self.env["ADMIN_PORT"]))
        if not os.path.exists(f"{d}/broker.json"):
            # The image's CA and ports: its client configuration names them (client_config).
            for name in TLS_FILES:
                shutil.copy(f"{self.image}/broker-tls/{name}", f"{d}/{name}")
            for name, n in (("master.key", 32), ("nonce.secret", 32)):
                with open(f"{d}/{name}", "wb") as f:
                    f.write(os.urandom(n))
            with open(f"{d}/admin.token", "w") as f:
                f.write(os.urandom(24).hex())
            for name in ("master.key", "admin.token", "nonce.secret"):
                os.chmod(f"{d}/{name}", 0o600)
            hcl = json.loads(run([f"{self.build}/skrctl", "hcl", "show", f"{self.az}/hcl.bin",
                                  "--json"]).stdout)["snp_report"]
            shutil.copy(f"{self.az}/vcek.der",
                        f"{d}/vcek/{hcl['chip_id']}-{hcl['reported_tcb']['raw']}.der")
            cfg = {"listen": f"127.0.0.1:{self.ports[0]}", "admin_listen": f"127.0.0.1:{self.ports[1]}",
                   "tls_cert": f"{d}/server.pem", "tls_key": f"{d}/server.key",
                   "database": f"{d}/broker.db", "master_key": f"{d}/master.key",
                   "admin_token_file": f"{d}/admin.token", "nonce_secret_file": f"{d}/nonce.secret",
                   "trust_anchors": [f"{self.az}/chain.pem"], "vcek_cache_dir": f"{d}/vcek",
                   "nonce_ttl": 120, "threads": 2}
            with open(f"{d}/broker.json", "w") as f:
                json.dump(cfg, f)
        log = open(f"{d}/broker.log", "a")
        self.broker = subprocess.Popen([f"{self.build}/skr-broker", "--config", f"{d}/broker.json"],
                                       stdout=log, stderr=log)
        if not wait_port(self.ports[0], self.broker) or not wait_port(self.ports[1], self.broker):
            raise RuntimeError("broker did not start: " + open(f"{d}/broker.log").read()[-2000:])

    def stop_broker(self):
        stop(self.broker)
        self.broker = None

    def trust_tl_ca(self, ca_dir):
        """Restarts the broker with CA_DIR's root as a trusted AK root and its
        intermediate as chain-building material (ak_roots, ak_intermediates)."""
        self.stop_broker()
        with open(f"{self.bdir}/broker.json") as f:
            cfg = json.load(f)
        cfg.update(ak_roots=f"{ca_dir}/root.pem", ak_intermediates=f"{ca_dir}/intermediate.pem")
        with open(f"{self.bdir}/broker.json", "w") as f:
            json.dump(cfg, f)
        self.start_broker()

    # --- the tang server of the clevis image ------------------------------
    def start_tang(self):
        """Debian's tangd with the image's keys on TANG_PORT of the host's
        loopback (the guest reaches it as GUEST_HOST), one tangd per
        connection as its systemd socket unit runs it."""
        port = int(self.env["TANG_PORT"])
        log = open(f"{self.work}/tang.log", "a")
        self.tang = subprocess.Popen([sys.executable, os.path.abspath(__file__), "tang", str(port),
                                      f"{self.image}/tang/db"], stdout=log, stderr=log)
        if not wait_port(port, self.tang):
            raise RuntimeError("tang did not start: " + open(f"{self.work}/tang.log").read()[-2000:])

    def stop_tang(self):
        stop(self.tang)
        self.tang = None

    def admin(self, method, path, body=None):
        cmd = ["curl", "-sS", "--cacert", f"{self.bdir}/ca.pem", "-X", method, "-w", "\n%{http_code}",
               "-H", "Authorization: Bearer " + open(f"{self.bdir}/admin.token").read().strip()]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        out = run(cmd + [f"https://127.0.0.1:{self.ports[1]}{path}"]).stdout
        text, _, status = out.rpartition("\n")
        if not status.startswith("2"):
            raise RuntimeError(f"admin {method} {path}: HTTP {status}: {text}")
        return json.loads(text) if text.strip() else None

    def enroll_blob(self, passphrase, key_id, pcrs="7", timeout=30, unenroll_first=False,
                    weak_binding=False):
        """What the guest's enroll step reads from fw_cfg: a tar of env, CA, token, passphrase.
        weak_binding: pass --weak-binding (a binding that leaves the initrd or the
        command line unmeasured, chosen on purpose by the scenario)."""
        d = f"{self.work}/enroll"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/enroll.env", "w") as f:
            f.write(f"BROKER=https://{GUEST_HOST}:{self.ports[0]}\nADMIN=https://{GUEST_HOST}:{self.ports[1]}\n"
                    f"PCRS={pcrs}\nKEY_ID={key_id}\nTIMEOUT={timeout}\n"
                    f"UNENROLL_FIRST={'yes' if unenroll_first else 'no'}\n"
                    f"{'WEAK_BINDING=yes' if weak_binding else ''}\n")
        shutil.copy(f"{self.bdir}/ca.pem", f"{d}/ca.pem")
        shutil.copy(f"{self.bdir}/admin.token", f"{d}/admin.token")
        with open(f"{d}/passphrase", "w") as f:
            f.write(passphrase)
        run(["tar", "-C", d, "-cf", f"{self.work}/enroll.tar", "."])
        return f"{self.work}/enroll.tar"

    # --- the guest ------------------------------------------------------------
    def esp(self):
        """The guest disk's ESP as mtools names it (image@@offset)."""
        return f"{self.disk}@@{self.env['ESP_OFFSET']}"

    def set_entry(self, entry, options, kver=None):
        """Makes ENTRY the boot entry of the next boot, with these kernel options,
        booting the ESP's /vmlinuz-KVER and /initrd-ENTRY-KVER.img (KVER: the
        image's kernel, image.env, unless given).  SKR_E2E_CMDLINE (for
        diagnosis, e.g. systemd.log_target=kmsg) is added to every entry."""
        kver = kver or self.env["KVER"]
        extra = os.environ.get("SKR_E2E_CMDLINE", "")
        options = f"{options} {extra}".strip()
        if entry not in ("skr", "baseline", "dracut", "clevis"):
            raise ValueError(f"no boot entry {entry}")
        conf = f"{self.work}/loader.conf"
        with open(conf, "w") as f:
            f.write("default e2e.conf\ntimeout 0\nconsole-mode keep\n")
        ent = f"{self.work}/e2e.conf"
        with open(ent, "w") as f:
            f.write(f"title skr e2e ({entry})\nlinux /vmlinuz-{kver}\ninitrd /initrd-{entry}-{kver}.img\n"
                    f"options console=ttyS0,115200 {options}\n")
        run(["mcopy", "-o", "-i", self.esp(), conf, "::/loader/loader.conf"])
        run(["mcopy", "-o", "-i", self.esp(), ent, "::/loader/entries/e2e.conf"])

    def esp_read(self, path):
        """The bytes of a file on the guest's ESP, e.g. "/loader/entries/e2e.conf"
        (what the guest wrote there on its last boot)."""
        r = subprocess.run(["mcopy", "-n", "-i", self.esp(), f"::{path}", "-"], capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"mcopy ::{path}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout

    def esp_write(self, path, data):
        """Writes (replaces) a file on the guest's ESP; data is str or bytes."""
        tmp = f"{self.work}/esp-write"
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        run(["mcopy", "-o", "-i", self.esp(), tmp, f"::{path}"])

    def esp_list(self, path="/"):
        """Names in a directory of the guest's ESP."""
        out = run(["mdir", "-b", "-i", self.esp(), f"::{path}"]).stdout
        return sorted(l.rstrip("/").rsplit("/", 1)[-1] for l in out.splitlines() if l.strip())

    def boot(self, name, fw_cfg=None, mode=None, disk=None, files=None, monitor=False):
        """Boots the guest.  fw_cfg: the enroll tar; mode: the report's steps
        (tests/e2e/guest/skr-e2e-report) through fw_cfg rather than the
        command line, which the Linux EFI stub measures into PCR 9.  disk:
        another disk image than the guest's own (the swap scenario).  files:
        more fw_cfg files, {name under opt/skr/: host path}.  monitor: QEMU's
        human monitor on a unix socket, for power_cut()."""
        sock = self.start_tpm()
        mon = "none"
        if monitor:
            self.monitor = f"{self.work}/monitor.sock"
            if os.path.exists(self.monitor):
                os.unlink(self.monitor)
            mon = f"unix:{self.monitor},server=on,wait=off"
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max", "-smp", "2",
               "-m", "1536", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", mon,
               "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
               "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
               "-drive", f"file={disk or self.disk},format=raw,if=virtio,cache=unsafe",
               "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
               "-chardev", f"socket,id=chrtpm,path={sock}",
               "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0"]
        if fw_cfg:
            cmd += ["-fw_cfg", f"name=opt/skr/enroll,file={fw_cfg}"]
        if mode:
            with open(f"{self.work}/mode", "w") as f:
                f.write(mode + "\n")
            cmd += ["-fw_cfg", f"name=opt/skr/mode,file={self.work}/mode"]
        for fname, path in (files or {}).items():
            cmd += ["-fw_cfg", f"name=opt/skr/{fname},file={path}"]
        self.qemu = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(f"{self.work}/qemu-{name}.err", "w"))
        return Console(self.qemu, f"{self.work}/console-{name}.log")

    def attacker_disk(self, pcrs=None):
        """The swap scenario's disk (build-image.sh's attacker.img) made to look
        like the guest's: the guest disk's ESP as it is now, byte for byte, and
        the skr tokens of its LUKS2 header (public) imported into the attacker's
        header, naming the attacker's own keyslot 0 (and, with pcrs, the PCRs
        the attacker wants its reseal predictions to cover).  Returns its path."""
        path = f"{self.work}/attacker.img"
        run(["cp", "--sparse=always", f"{self.image}/attacker.img", path])
        copy_range(self.disk, path, int(self.env["ESP_OFFSET"]), int(self.env["ESP_BYTES"]))
        root, hdr_len = int(self.env["ROOT_OFFSET"]), LUKS_AREA
        real, evil = f"{self.work}/real-header.img", f"{self.work}/attacker-header.img"
        copy_range(self.disk, real, root, hdr_len, dst_off=0)
        copy_range(path, evil, root, hdr_len, dst_off=0)
        meta = json.loads(run(["cryptsetup", "luksDump", "--dump-json-metadata", real]).stdout)
        n = 0
        for tid, tok in meta.get("tokens", {}).items():
            if tok.get("type") != "skr":
                continue
            tok["keyslots"] = ["0"]
            if pcrs:
                tok["pcrs"] = pcrs
            with open(f"{self.work}/attacker-token.json", "w") as f:
                json.dump(tok, f)
            run(["cryptsetup", "token", "import", evil, "--json-file", f"{self.work}/attacker-token.json",
                 "--token-id", tid])
            n += 1
        if not n:
            raise RuntimeError("the guest disk's header has no skr token to copy")
        copy_range(evil, path, 0, hdr_len, dst_off=root)
        return path

    def power_cut(self, timeout=30):
        """Cuts the guest's power: `quit` on QEMU's monitor (boot(monitor=True)),
        nothing flushed or shut down in the guest.  swtpm goes with QEMU (it
        ends when its client does, --terminate); its state directory, the
        vTPM's NV as a real power cut keeps it, stays for the next boot, as
        does the disk image."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.monitor)
        s.sendall(b"quit\n")
        try:
            self.qemu.wait(timeout)
        finally:
            s.close()
            stop(self.qemu, signal.SIGKILL)
            try:
                self.tpm.wait(10)
            except subprocess.TimeoutExpired:
                stop(self.tpm)
            self.qemu = self.tpm = None

    def kill_guest(self):
        stop(self.qemu, signal.SIGKILL)
        stop(self.tpm)
        self.qemu = self.tpm = None

    def wait_off(self, timeout=120):
        try:
            self.qemu.wait(timeout)
        finally:
            stop(self.qemu, signal.SIGKILL)
            stop(self.tpm)
            self.qemu = self.tpm = None


def serve_tang(port, db):
    """Accepts on 127.0.0.1:port and runs /usr/libexec/tangd DB for each
    connection, the socket as its stdin and stdout (inetd style)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)     # tangd children reap themselves
    while True:
        conn, _ = srv.accept()
        subprocess.Popen(["/usr/libexec/tangd", db], stdin=conn, stdout=conn)
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "client-config":
        client_config(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "tang":
        serve_tang(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: stack.py client-config OUTDIR ROOT | stack.py tang PORT DB")

#!/usr/bin/env python3
"""Power cuts inside a real e2e guest (issue 18): QEMU's power goes (`quit` on
its monitor, nothing flushed or shut down in the guest) at each fault point of

  skrctl enroll             after_pending, after_broker_key, after_refset,
                            after_keyslot, after_recovery (--recovery-key),
                            after_verify, after_token
  skrctl reseal             (a kernel upgrade: the next kernel's .deb installed
                            with SKR_RESEAL=no, then the reseal the hook would
                            run) reseal_after_predict, reseal_after_broker_set,
                            reseal_after_local_sign (the key has a local copy)
  skrctl reseal --commit    (booted into the new kernel) commit_after_broker,
                            commit_after_counter

The guest runs `SKR_FAULT=STEP:hold skrctl-faults ...` (a FAULTS=1 build the
power-cut image carries besides the normal skrctl; build-image.sh
SKR_E2E_FAULTS_SKRCTL), which prints "skr-fault: reached STEP" and waits; the
harness cuts the power as soon as it sees the line.  The swtpm state directory
(the vTPM's NV: the local copy's counter) and the disk stay for the next boot.

After each cut, on the host: the LUKS2 header parses (cryptsetup luksDump of
the header area) and the passphrase's keyslot 0 opens (--test-passphrase).
Then the next boot must unlock: with no input (the token: skr), or at worst
with the passphrase typed at the prompt; that boot runs the next step.  The
repairs: each interrupted enroll is cleaned up by the next enroll (its
leftovers, tokens naming its key and the broker's key, gone), the last by a
complete enroll whose key then unlocks the next boot with no input; the
interrupted reseals by a complete reseal, after which the new kernel boots
with no input; the interrupted commits by a complete commit, after which the
new kernel boots with the broker stopped, from the local copy.

One guest at a time.  Writes the results (--results) as JSON; exits non-zero
on any failure.

Usage: powercut.py --build DIR --image DIR [--results FILE] [--keep]
"""
import argparse
import json
import os
import re
import shlex
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import LUKS_AREA, Stack, copy_range  # noqa: E402

PROMPT = r"Please unlock disk root"
BOOT_TIMEOUT = 600
CMDLINE = "root=/dev/mapper/root ro"     # one command line: the key binds PCR 9
PCRS = "4,7,9"
MAIN_KEY = "pc-main"

ENROLL_POINTS = ["after_pending", "after_broker_key", "after_refset", "after_keyslot",
                 "after_recovery", "after_verify", "after_token"]
RESEAL_POINTS = ["reseal_after_predict", "reseal_after_broker_set", "reseal_after_local_sign"]
COMMIT_POINTS = ["commit_after_broker", "commit_after_counter"]

# The guest script's helpers (sh, run by skr-e2e-report's powercut step with
# the enroll tar unpacked in /run/skr-e2e).
PRELUDE = r"""
set -u
cd /run/skr-e2e
. ./enroll.env
say() { echo "SKR-PC: $*"; }
# skr-reseal-commit.service runs beside the report at every boot: it is done
# (or masked) before anything here touches the header.
for i in $(seq 1 180); do
	[ "$(systemctl is-active skr-reseal-commit.service)" = activating ] || break
	sleep 1
done
systemctl mask skr-reseal-commit.service >/dev/null 2>&1
sync
# enroll KID FAULT [OPTION...]: skrctl-faults with SKR_FAULT=FAULT:hold, or the
# normal skrctl with FAULT "-".
enroll() {
	kid=$1
	fault=$2
	shift 2
	bin=skrctl
	[ "$fault" = - ] || bin="env SKR_FAULT=$fault:hold skrctl-faults"
	$bin enroll /dev/vda2 --admin "$ADMIN" --admin-token /run/skr-e2e/admin.token \
		--key-file /run/skr-e2e/passphrase --pcrs %(pcrs)s --weak-binding --key-id "$kid" \
		--timeout 30 "$@"
}
""" % {"pcrs": PCRS}


class Failure(Exception):
    pass


class Run:
    def __init__(self, st, pw, work):
        self.st, self.pw, self.work = st, pw, work
        self.steps = []
        self.boots = []
        self.n = 0
        self.old, self.new = st.env["KVER"], st.env["KVER_NEXT"]

    # --- host-side checks -------------------------------------------------
    def header(self):
        """The disk's LUKS2 header as the cut left it: parses, keyslot 0 opens
        with the passphrase; its tokens and keyslots."""
        hdr = f"{self.work}/header.img"
        if os.path.exists(hdr):
            os.unlink(hdr)
        copy_range(self.st.disk, hdr, int(self.st.env["ROOT_OFFSET"]), LUKS_AREA, dst_off=0)
        r = {"luksdump_ok": False, "passphrase_slot_opens": False}
        import subprocess
        d = subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", hdr],
                           capture_output=True, text=True)
        if d.returncode == 0:
            r["luksdump_ok"] = subprocess.run(["cryptsetup", "luksDump", hdr],
                                              capture_output=True).returncode == 0
            meta = json.loads(d.stdout)
            r["keyslots"] = sorted(int(k) for k in meta.get("keyslots", {}))
            r["tokens"] = [{"id": int(i), "type": t.get("type"),
                            "key_id": t.get("key_id"), "keyslots": t.get("keyslots"),
                            "json": json.dumps(t, sort_keys=True)}
                           for i, t in sorted(meta.get("tokens", {}).items(), key=lambda x: int(x[0]))]
        else:
            r["error"] = d.stderr.strip()[-300:]
        t = subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-slot", "0",
                            "--key-file", f"{self.st.image}/passphrase", hdr], capture_output=True)
        r["passphrase_slot_opens"] = t.returncode == 0
        r["ok"] = r["luksdump_ok"] and r["passphrase_slot_opens"]
        return r

    def broker_has(self, kid):
        try:
            self.st.admin("GET", f"/v1/keys/{kid}")
            return True
        except RuntimeError as e:
            if "HTTP 404" in str(e):
                return False
            raise

    def refsets(self, kid):
        return {s["label"]: s["state"] for s in self.st.admin("GET", f"/v1/keys/{kid}/refsets")}

    # --- boots ------------------------------------------------------------
    def boot(self, name, kver, script, point=None, expect_ok=None):
        """One boot of kernel kver: unlocks (typing the passphrase if the
        prompt comes), runs script; with point, cuts the power when the
        marker comes; else waits for the report's SKR-BOOT-OK.  Returns
        {method, marker, console lines, ...}."""
        self.n += 1
        st = self.st
        st.set_entry("skr", CMDLINE, kver)
        path = f"{self.work}/powercut-{self.n}.sh"
        with open(path, "w") as f:
            f.write(PRELUDE + script + "\n")
        b = {"boot": self.n, "name": name, "kernel": kver, "point": point}
        self.boots.append(b)
        for attempt in (1, 2):
            t0 = time.monotonic()
            log = f"{self.n:02d}-{name}" + ("" if attempt == 1 else "-retry")
            con = st.boot(log, fw_cfg=st.enroll_blob(self.pw, MAIN_KEY, pcrs=PCRS),
                          mode="skr.e2e=powercut", files={"powercut": path}, monitor=True)
            try:
                con.expect(r"Run /init as init process", 300)
                break
            except AssertionError as e:
                # TCG sometimes stalls a guest in early kernel init, before
                # anything of skr's runs (e2e.py retries such boots too).
                st.kill_guest()
                if attempt == 2:
                    b["ok"] = False
                    b["error"] = str(e)
                    raise Failure(f"boot {self.n} ({name}) stalled before the initramfs twice")
                print(f"retry boot {self.n} ({name}): stalled before the initramfs", flush=True)
                b["retried"] = True
        try:
            i, m = con.expect(r"SKR-E2E-UNLOCKED method=(\S+) kernel=|" + PROMPT, BOOT_TIMEOUT, prompt=True)
            typed = m.group(1) is None
            if typed:
                con.send(self.pw + "\n")
                i, m = con.expect(r"SKR-E2E-UNLOCKED method=(\S+) kernel=", BOOT_TIMEOUT, i)
            b["method"] = m.group(1)
            b["passphrase_typed"] = typed
            b["unlocked_s"] = round(con.when(i) - t0, 1)
            if point:
                k, _ = con.expect(rf"skr-fault: reached {re.escape(point)}\b", 1800, i,
                                  forbid=r"SKR-E2E-POWERCUT-SCRIPT-DONE|SKR-PC-FAIL")
                st.power_cut()
                b["marker_seen"] = True
                b["cut_at_s"] = round(con.when(k) - t0, 1)
            else:
                k, _ = con.expect(r"SKR-BOOT-OK method=\S+", 1800, i, forbid=r"SKR-PC-FAIL")
                st.wait_off()
            b["wall_s"] = round(time.monotonic() - t0, 1)
            for pat in expect_ok or ():
                if not any(re.search(pat, line) for line in con.text()):
                    raise Failure(f"boot {self.n} ({name}): no /{pat}/ on the console")
            b["ok"] = True
            return b, con
        except AssertionError as e:
            st.kill_guest()
            b["ok"] = False
            b["error"] = str(e)
            b["wall_s"] = round(time.monotonic() - t0, 1)
            raise Failure(f"boot {self.n} ({name}): {e} (console: {self.work}/console-{self.n:02d}-{name}.log)")

    def lines(self, con, pattern):
        rx = re.compile(pattern)
        return [line for line in con.text() if rx.search(line)]


def write_results(path, r, not_run, wall, result):
    """The results so far (result "incomplete" while the run goes on: a
    stopped run leaves the steps it finished)."""
    if not path:
        return
    passed = sum(1 for s in r.steps if s["pass"])
    out = {"what": "power cut (QEMU quit, no shutdown; swtpm state and disk kept) in a real "
                   "QEMU TCG guest at each fault point of skrctl enroll, reseal (kernel upgrade) "
                   "and reseal --commit; after each cut the LUKS2 header is checked on the host, "
                   "the next boot must unlock and runs the next step; later runs must repair",
           "command": "make e2e-powercut (tests/e2e/powercut.py)",
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "kernels": {"old": r.old, "new": r.new}, "pcrs": PCRS,
           "steps": r.steps, "not_run": not_run,
           "boots": r.boots, "boots_total": len(r.boots), "wall_s": wall,
           "passed": passed, "failed": len(r.steps) - passed, "result": result}
    if hasattr(r, "after_enroll"):
        out["after_complete_enroll"] = r.after_enroll
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def enroll_script(kid, point, extra=""):
    return f"enroll {kid} {point} {extra}\nsay enroll $kid ended rc=$?\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--results")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--resume-commit", metavar="WORK",
                    help="an earlier run's work directory whose run stopped after the complete "
                         "reseal: only the commit steps (and the record of reseal_after_local_sign)")
    a = ap.parse_args()
    work = a.resume_commit or tempfile.mkdtemp(prefix="skr-powercut-")
    pw = open(f"{a.image}/passphrase").read().strip()
    t_start = time.monotonic()
    failed = []

    with Stack(a.build, a.image, work, reuse=bool(a.resume_commit)) as st:
        if not a.resume_commit:
            st.provision_tpm()
        st.start_broker()
        r = Run(st, pw, work)
        base = r.header()
        base_slots = base.get("keyslots", [])
        print(f"powercut: work {work}; base keyslots {base_slots}", flush=True)

        def record(family, point, boot, nxt, header, repair, ok, note=None):
            s = {"family": family, "point": point, "marker_seen": bool(boot.get("marker_seen")),
                 "cut_boot": boot["boot"], "cut_at_s": boot.get("cut_at_s"),
                 "header_after_cut": {k: header.get(k) for k in ("luksdump_ok", "passphrase_slot_opens",
                                                                  "keyslots")},
                 "header_tokens": [f"{t['id']}:{t['type']}:{t.get('key_id') or ''}"
                                   for t in header.get("tokens", [])],
                 "next_boot": nxt and {"boot": nxt["boot"], "kernel": nxt["kernel"],
                                       "unlocked_by": nxt.get("method"),
                                       "passphrase_typed": nxt.get("passphrase_typed")},
                 "repair": repair, "pass": ok}
            if note:
                s["note"] = note
            r.steps.append(s)
            print(("ok" if ok else "FAIL") + f" {family} {point} " + json.dumps(s), flush=True)
            if not ok:
                failed.append(f"{family} {point}")
            write_results(a.results, r, None, round(time.monotonic() - t_start, 1), "incomplete")

        def unlocked(nxt):
            return nxt is not None and nxt.get("method") in ("skr", "skr-local", "skr-token",
                                                              "skr-token-local", "passphrase")

        def run_step(fn, *args):
            try:
                return fn(*args)
            except (Failure, RuntimeError) as e:
                print(f"FAIL {e}", flush=True)
                failed.append(str(e))
                return None

        # ---- enroll -------------------------------------------------------
        # Each boot verifies the previous cut and runs the next one; each
        # enroll first repairs (reconciles) what the previous one left.
        pending = None      # (point, cut boot, header, kid)

        def enroll_family():
            nonlocal pending
            for n, point in enumerate(ENROLL_POINTS, 1):
                kid = f"pc-e{n}"
                extra = "--recovery-key" if point == "after_recovery" else ""
                b, con = r.boot(f"enroll-{point}", r.old, enroll_script(kid, point, extra), point)
                h = r.header()
                if pending:
                    p_point, p_boot, p_h, p_kid = pending
                    # The enroll of this boot reconciled the previous one first.
                    left = [t for t in h.get("tokens", []) if p_kid in t["json"]]
                    rep = {"by": f"the next enroll ({kid}, boot {b['boot']}) reconciled first",
                           "tokens_naming_key_left": len(left),
                           "broker_key_left": r.broker_has(p_kid)}
                    ok = p_h["ok"] and unlocked(b) and not left and not rep["broker_key_left"]
                    record("enroll", p_point, p_boot, b, p_h, rep, ok)
                pending = (point, b, h, kid)

        if a.resume_commit:
            import glob
            r.n = len({os.path.basename(p).split("-")[1] for p in glob.glob(f"{work}/console-*.log")})
            cut = f"{work}/console-{r.n - 1:02d}-reseal-reseal_after_local_sign.log"
            unl = re.search(r"SKR-E2E-UNLOCKED method=(\S+)", open(f"{work}/console-{r.n:02d}-reseal-repair.log",
                                                                  errors="replace").read())
            seen = "skr-fault: reached reseal_after_local_sign" in open(cut, errors="replace").read()
            h = r.header()
            h["checked"] = f"after the repair boot {r.n}, not right after the cut (the earlier run stopped)"
            r.reseal_last = ("reseal_after_local_sign", {"boot": r.n - 1, "marker_seen": seen}, h,
                             {"boot": r.n, "kernel": r.old, "method": unl and unl.group(1)})
            r.reseal_states = r.refsets(MAIN_KEY)
            ENROLL_POINTS[:] = []
            RESEAL_POINTS[:] = ["reseal_after_local_sign"]
        else:
            run_step(enroll_family)

        # The boot after the last cut (after_token): its key's token should
        # unlock with no input.  It then unenrolls every skr token, enrolls
        # the key the reseals use (PCRs 4, 7, 9) to completion, makes its
        # local copy and installs the next kernel with the reseal hooks off.
        deb_script = r"""
say "unenroll"
skrctl unenroll /dev/vda2 --admin-token /run/skr-e2e/admin.token --ca /run/skr-e2e/ca.pem --admin "$ADMIN" 2>&1 | sed 's/^/SKR-PC-OUT: /'
enroll %(kid)s - > /run/skr-e2e/enroll.out 2>&1
rc=$?
sed 's/^/SKR-PC-OUT: /' /run/skr-e2e/enroll.out
[ $rc -eq 0 ] && say "ENROLL-OK" || { echo "SKR-PC-FAIL enroll rc=$rc"; exit 1; }
skrctl local-copy /dev/vda2 --key-file /run/skr-e2e/passphrase 2>&1 | sed 's/^/SKR-PC-OUT: /'
skrctl status /dev/vda2 >/dev/null 2>&1
cp /etc/skr/skr.conf /run/skr-e2e/skr.conf.saved
sed -i 's/^SKR_RESEAL=.*/SKR_RESEAL=no/' /etc/skr/skr.conf
grep -q '^SKR_RESEAL=no' /etc/skr/skr.conf || echo 'SKR_RESEAL=no' >> /etc/skr/skr.conf
deb=$(ls /var/cache/skr-e2e/linux-image-*.deb | head -1)
if PATH=/usr/local/share/skr-e2e/bin:$PATH SKR_E2E_PREBUILT=install dpkg -i "$deb" > /run/skr-e2e/dpkg.out 2>&1; then
	say "KERNEL-INSTALL-OK"
else
	tail -20 /run/skr-e2e/dpkg.out; echo "SKR-PC-FAIL dpkg"
fi
cp /run/skr-e2e/skr.conf.saved /etc/skr/skr.conf
sync
""" % {"kid": MAIN_KEY}
        main_ok = False

        def main_enroll():
            nonlocal main_ok, pending
            b, con = r.boot("enroll-main", r.old, deb_script, None,
                            expect_ok=[r"SKR-PC: ENROLL-OK", r"SKR-PC: KERNEL-INSTALL-OK",
                                       rf"key {MAIN_KEY}: local copy sealed in this vTPM"])
            h = r.header()
            repaired = [l for l in r.lines(con, r"repaired \d+ interrupted")]
            if pending:
                p_point, p_boot, p_h, p_kid = pending
                left = [t for t in h.get("tokens", []) if p_kid in t["json"]]
                rep = {"by": f"unenroll, then a complete enroll ({MAIN_KEY}, boot {b['boot']})",
                       "enroll_said": repaired, "tokens_naming_key_left": len(left),
                       "broker_key_left": r.broker_has(p_kid)}
                # after_token is past the commit point: the token itself must
                # have unlocked this boot, with no input.
                ok = p_h["ok"] and unlocked(b) and not left and not rep["broker_key_left"]
                note = None
                if p_point == "after_token" and b.get("method") != "skr":
                    note = f"the completed enrollment's token did not unlock: {b.get('method')}"
                record("enroll", p_point, p_boot, b, p_h, rep, ok, note)
                pending = None
            # Nothing orphaned: no skr-pending token, every keyslot but the
            # image's own named by an skr token.
            named = {int(s) for t in h.get("tokens", []) if t["type"] == "skr" for s in t["keyslots"] or []}
            orphans = [s for s in h.get("keyslots", []) if s not in base_slots and s not in named]
            stale = [t["type"] for t in h.get("tokens", []) if t["type"] != "skr" and
                     t["type"] not in (tt["type"] for tt in base.get("tokens", []))]
            r.after_enroll = {"keyslots": h.get("keyslots"), "orphan_keyslots": orphans,
                              "stale_tokens": stale}
            if orphans or stale:
                raise Failure(f"after the complete enroll: orphan keyslots {orphans}, tokens {stale}")
            policy = st.admin("GET", f"/v1/keys/{MAIN_KEY}")["policy"]
            policy["allow_attested_reseal"] = True
            st.admin("PUT", f"/v1/keys/{MAIN_KEY}/policy", policy)
            main_ok = True

        if not a.resume_commit:
            run_step(main_enroll)
        if pending:     # the boot after the last enroll cut did not run
            p_point, p_boot, p_h, _ = pending
            record("enroll", p_point, p_boot, None, p_h, None, False, "the next boot failed")

        # ---- reseal (kernel upgrade) ---------------------------------------
        reseal_cmd = f"skrctl-faults reseal --all --kernel-version {r.new}"
        repair_cmd = f"skrctl reseal --all --kernel-version {r.new}"

        def reseal_family():
            prev = None
            for point in RESEAL_POINTS:
                b, con = r.boot(f"reseal-{point}", r.old,
                                f"env SKR_FAULT={point}:hold {reseal_cmd}\nsay reseal ended rc=$?\n", point)
                h = r.header()
                if prev:
                    p_point, p_boot, p_h = prev
                    record("reseal", p_point, p_boot, b, p_h, {"by": "the complete reseal below"},
                           p_h["ok"] and unlocked(b))
                prev = (point, b, h)
            # The repair: the reseal the hook would have run, to the end.
            b, con = r.boot("reseal-repair", r.old,
                            f"{repair_cmd} > /run/skr-e2e/r.out 2>&1; rc=$?\n"
                            "sed 's/^/SKR-PC-OUT: /' /run/skr-e2e/r.out\n"
                            "[ $rc -eq 0 ] && say RESEAL-OK || echo \"SKR-PC-FAIL reseal rc=$rc\"\nsync\n",
                            None, expect_ok=[r"SKR-PC: RESEAL-OK",
                                             rf"kernel {re.escape(r.new)}: (?:submitted|already approved): set \d+ is pending"])
            p_point, p_boot, p_h = prev
            r.reseal_repair = b
            r.reseal_last = (p_point, p_boot, p_h, b)
            r.reseal_states = r.refsets(MAIN_KEY)
            return b

        def commit_family():
            # The new kernel boots with no input: the interrupted reseals repaired.
            prev = None
            for j, point in enumerate(COMMIT_POINTS):
                b, con = r.boot(f"commit-{point}", r.new,
                                f"env SKR_FAULT={point}:hold skrctl-faults reseal --commit --all\n"
                                "say commit ended rc=$?\n", point)
                if j == 0:
                    p_point, p_boot, p_h, rb = r.reseal_last
                    ok = p_h["ok"] and unlocked(rb) and b.get("method") == "skr"
                    record("reseal", p_point, p_boot, rb, p_h,
                           {"by": f"a complete skrctl reseal (boot {rb['boot']}); the new kernel "
                                  f"then unlocked by {b.get('method')} (boot {b['boot']})",
                            "new_kernel_unlocked_by": b.get("method"),
                            "sets_after_repair": r.reseal_states}, ok)
                    # The earlier reseal cuts were repaired by the same reseal.
                    for s in r.steps:
                        if s["family"] == "reseal" and s["repair"] == {"by": "the complete reseal below"}:
                            s["repair"] = {"by": f"a complete skrctl reseal (boot {rb['boot']})",
                                           "new_kernel_unlocked_by": b.get("method")}
                            s["pass"] = s["pass"] and b.get("method") == "skr"
                h = r.header()
                if prev:
                    pp, pb, ph = prev
                    record("commit", pp, pb, b, ph, {"by": "the complete commit below"},
                           ph["ok"] and unlocked(b))
                prev = (point, b, h)
            # The repair: a complete commit, then the unit back.
            b, con = r.boot("commit-repair", r.new,
                            "skrctl reseal --commit --all > /run/skr-e2e/c.out 2>&1; rc=$?\n"
                            "sed 's/^/SKR-PC-OUT: /' /run/skr-e2e/c.out\n"
                            "[ $rc -eq 0 ] && say COMMIT-OK || echo \"SKR-PC-FAIL commit rc=$rc\"\n"
                            "systemctl unmask skr-reseal-commit.service\nsync\n",
                            None, expect_ok=[r"SKR-PC: COMMIT-OK"])
            pp, pb, ph = prev
            record("commit", pp, pb, b, ph, {"by": "the complete commit below"},
                   ph["ok"] and unlocked(b))
            commit_out = r.lines(con, r"SKR-PC-OUT: ")
            # The proof: the broker stopped, the new kernel opens from the
            # local copy, whose token and counter the commit left consistent.
            st.stop_broker()
            try:
                fb, fcon = r.boot("local-after-commit", r.new, "say broker stopped\n", None)
            finally:
                st.start_broker()
            states = r.refsets(MAIN_KEY)
            for s in r.steps:
                if s["family"] == "commit" and s["repair"] == {"by": "the complete commit below"}:
                    s["repair"] = {"by": f"a complete skrctl reseal --commit (boot {b['boot']}); then, the "
                                         f"broker stopped, the new kernel unlocked by {fb.get('method')} "
                                         f"(boot {fb['boot']})",
                                   "commit_said": commit_out[-4:],
                                   "local_boot_unlocked_by": fb.get("method"),
                                   "sets_after_commit": states}
                    s["pass"] = s["pass"] and fb.get("method") == "skr-local" and \
                        states.get(f"kernel {r.new}") == "current"
                    print(("ok" if s["pass"] else "FAIL") + f" commit {s['point']} repaired: "
                          + json.dumps(s["repair"]), flush=True)
                    if not s["pass"]:
                        failed.append(f"commit {s['point']}")

        if a.resume_commit:
            run_step(commit_family)
        elif main_ok and run_step(reseal_family):
            run_step(commit_family)
        done = {(s["family"], s["point"]) for s in r.steps}
        not_run = [f"{f} {p}" for f, pts in (("enroll", ENROLL_POINTS), ("reseal", RESEAL_POINTS),
                                            ("commit", COMMIT_POINTS)) for p in pts if (f, p) not in done]
        if not_run:
            failed.append("not run: " + ", ".join(not_run))

    wall = round(time.monotonic() - t_start, 1)
    passed = sum(1 for s in r.steps if s["pass"])
    print(f"powercut: {passed} of {len(r.steps)} steps passed, {len(r.boots)} boots, {wall} s"
          + (f"; not run: {', '.join(not_run)}" if not_run else ""), flush=True)
    write_results(a.results, r, not_run, wall, "pass" if not failed else "fail")
    if failed:
        print("powercut: FAILED: " + "; ".join(failed) + f" (work dir {work})", flush=True)
    elif not a.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

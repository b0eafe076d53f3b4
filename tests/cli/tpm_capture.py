"""Reads what tpm_record_proxy.py captured of one TPM client's traffic and
checks it for tests/cli/test_tpm_param_enc.sh.

Usage: tpm_capture.py RECORD_DIR Z_FILE SECRET_FILE MODE PREFIX
  MODE "encrypted": Z must not cross the TPM interface; TPM2_ECDH_ZGen must
                    run under an HMAC session salted with the wrap key (the
                    key ZGen uses), with response encryption, AES-128-CFB
  MODE "fallback":  as "encrypted", but salted with a primary of the owner
                    hierarchy (the client acted as if the TPM refused the
                    wrap key as salt key)
  MODE "clear":     Z must be seen in the capture (the test's capture and
                    search can find it: the encrypted checks can fail)
Prints one "PASS PREFIX-name" or "FAIL PREFIX-name: why" line per check.

The command channel of the swtpm TCTI carries raw TPM 2.0 commands and
responses (TPM 2.0 Part 1, 18: tag u16, size u32, command or response code
u32, big-endian), one response per command, in order, on one connection.
"""
import glob, os, struct, sys

rec, z_file, secret_file, mode, prefix = sys.argv[1:6]

CC_START_AUTH_SESSION = 0x176
CC_ECDH_ZGEN = 0x154
CC_CREATE_PRIMARY = 0x131
ST_SESSIONS = 0x8002
RS_PW = 0x40000009
TPM_SE_HMAC = 0x00
ALG_AES, ALG_CFB = 0x0006, 0x0043
ATTR_DECRYPT, ATTR_ENCRYPT = 0x20, 0x40


def check(name, ok, why=""):
    print("PASS %s-%s" % (prefix, name) if ok else "FAIL %s-%s: %s" % (prefix, name, why))


def frames(data):
    out, off = [], 0
    while off < len(data):
        if len(data) - off < 10:
            raise ValueError("%d stray bytes at offset %d" % (len(data) - off, off))
        tag, size, code = struct.unpack(">HII", data[off:off + 10])
        if size < 10 or off + size > len(data):
            raise ValueError("a frame of %d bytes at offset %d of %d" % (size, off, len(data)))
        out.append((tag, code, data[off:off + size]))
        off += size
    return out


def tpm2b(buf, off):
    (n,) = struct.unpack(">H", buf[off:off + 2])
    return buf[off + 2:off + 2 + n], off + 2 + n


RH_OWNER = 0x40000001

# (command, response) pairs of every recorded connection, in order.
pairs, raw, parse_err = [], b"", None
for cmd_path in sorted(glob.glob(os.path.join(rec, "*.cmd")),
                       key=lambda p: int(os.path.basename(p)[:-4])):
    rsp_path = cmd_path[:-4] + ".rsp"
    c = open(cmd_path, "rb").read()
    r = open(rsp_path, "rb").read() if os.path.exists(rsp_path) else b""
    raw += c + r
    try:
        cf, rf = frames(c), frames(r)
    except ValueError as e:
        parse_err = "%s: %s" % (os.path.basename(cmd_path), e)
        continue
    if len(cf) != len(rf):
        parse_err = "%s: %d commands, %d responses" % (os.path.basename(cmd_path), len(cf), len(rf))
        continue
    pairs += list(zip(cf, rf))
check("capture-parses-as-tpm-commands", parse_err is None and pairs, parse_err or "nothing captured")

zs = [l.strip() for l in open(z_file)] if os.path.exists(z_file) else []
check("z-known-to-the-test", len(zs) == 1 and len(zs[0]) == 64,
      "%d Z lines in %s (is this a -DSKR_TEST_FAULTS build?)" % (len(zs), z_file))
z = bytes.fromhex(zs[0]) if len(zs) == 1 and len(zs[0]) == 64 else None

zgens = [(c, r) for c, r in pairs if c[1] == CC_ECDH_ZGEN]
check("zgen-captured-and-succeeded", len(zgens) == 1 and zgens[0][1][1] == 0,
      "%d TPM2_ECDH_ZGen commands, response codes %s"
      % (len(zgens), [hex(r[1]) for _, r in zgens]))

secret = open(secret_file, "rb").read() if os.path.exists(secret_file) else b""
check("secret-not-on-tpm-interface", secret and secret not in raw,
      "the released secret is in the captured TPM traffic" if secret else "no released secret")

# Z as the TPM returns it: outPoint.x, 32 bytes (leading zero bytes possibly dropped).
needle = z.lstrip(b"\0") if z else None
if mode == "clear":
    check("z-seen-on-tpm-interface-when-clear", needle is not None and needle in raw,
          "Z is not in the captured bytes of the clear path: the capture or the search is broken")
    sys.exit(0)

check("z-not-on-tpm-interface", needle is not None and needle not in raw,
      "Z crossed the TPM interface in the clear" if needle else "Z unknown")
if len(zgens) != 1:
    check("zgen-under-salted-encrypt-session", False, "no single ZGen to inspect")
    sys.exit(0)

# TPM2_ECDH_ZGen: header, keyHandle, authorizationSize, one session.
zc = zgens[0][0][2]
why = ""
key_handle, = struct.unpack(">I", zc[10:14])
sess_handle = attrs = None
if zgens[0][0][0] != ST_SESSIONS:
    why = "TPM2_ECDH_ZGen carries no session"
else:
    sess_handle, = struct.unpack(">I", zc[18:22])
    _, off = tpm2b(zc, 22)
    attrs = zc[off]
    if sess_handle == RS_PW:
        why = "TPM2_ECDH_ZGen is authorised by a password session"
    elif not attrs & ATTR_ENCRYPT:
        why = "the session's attributes 0x%02x lack encrypt" % attrs
check("zgen-session-encrypts-response", not why, why)

# The StartAuthSession whose response handle is that session.
why, start = "", None
for c, r in pairs:
    if c[1] == CC_START_AUTH_SESSION and r[1] == 0 and struct.unpack(">I", r[2][10:14])[0] == sess_handle:
        start = c
if start is None:
    why = "no TPM2_StartAuthSession returned session 0x%08x" % (sess_handle or 0)
else:
    s = start[2]
    tpm_key, bind = struct.unpack(">II", s[10:18])
    _, off = tpm2b(s, 18)              # nonceCaller
    salt, off = tpm2b(s, off)           # encryptedSalt
    se = s[off]
    alg, bits, smode, auth_hash = struct.unpack(">HHHH", s[off + 1:off + 9])
    # The owner-hierarchy primaries created (their handles, from the responses).
    owner_primaries = [struct.unpack(">I", r[2][10:14])[0] for c, r in pairs
                       if c[1] == CC_CREATE_PRIMARY and r[1] == 0
                       and struct.unpack(">I", c[2][10:14])[0] == RH_OWNER]
    if mode == "encrypted" and tpm_key != key_handle:
        why = "salted with 0x%08x, not the wrap key 0x%08x" % (tpm_key, key_handle)
    elif mode == "fallback" and (tpm_key == key_handle or tpm_key not in owner_primaries):
        why = "salted with 0x%08x, not an owner primary (%s)" % (
            tpm_key, ", ".join("0x%08x" % h for h in owner_primaries) or "none made")
    elif not salt:
        why = "the session is not salted (empty encryptedSalt)"
    elif se != TPM_SE_HMAC:
        why = "session type %d, not HMAC" % se
    elif (alg, bits, smode) != (ALG_AES, 128, ALG_CFB):
        why = "symmetric 0x%04x/%d/0x%04x, not AES-128-CFB" % (alg, bits, smode)
check("zgen-session-salted-with-wrap-key" if mode == "encrypted" else
      "zgen-session-salted-with-storage-primary", not why, why)

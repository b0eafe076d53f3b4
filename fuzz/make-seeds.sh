#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpora of fuzz_snp_report, fuzz_hcl_report,
# fuzz_tpms_attest, fuzz_evidence (its azure-tl seed too) and
# fuzz_svsm_manifest from the vendored vectors in tests/vectors
# (see tests/vectors/README.md for where those come from).
#
#   sh fuzz/make-seeds.sh        (from the top of the source tree)
set -eu

cd "$(dirname "$0")/.."
exec python3 - <<'PY'
import base64, json, os, struct

def b64url_decode(s):
    s = s.strip().replace('-', '+').replace('_', '/')
    return base64.b64decode(s + '=' * (-len(s) % 4))

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    print('%6d  %s' % (len(data), path))

# SEV-SNP report: the real Milan report (version 2), and the same with version 5.
report = bytes.fromhex(''.join(open('tests/vectors/snp/milan-report.hex').read().split()))
assert len(report) == 1184, len(report)
write('fuzz/corpus/snp_report/milan-v2.bin', report)
write('fuzz/corpus/snp_report/milan-v5.bin', struct.pack('<I', 5) + report[4:])

ev_text = open('tests/vectors/azure/milan-evidence.json', 'rb').read()
ev = json.loads(ev_text)

# HCL report: the binary behind the evidence's "hcl_report" (base64url).
write('fuzz/corpus/hcl_report/milan-hcl.bin', b64url_decode(ev['hcl_report']))

# TPMS_ATTEST: the quote message; its signature raw and as a TPMT_SIGNATURE
# (RSASSA, SHA-256), for the signature path of the same target.
quote = ev['tpm_quote']
sig = bytes.fromhex(quote['signature'])
write('fuzz/corpus/tpms_attest/milan-quote.bin', bytes.fromhex(quote['message']))
write('fuzz/corpus/tpms_attest/milan-sig-raw.bin', sig)
write('fuzz/corpus/tpms_attest/milan-sig-tpmt.bin',
      struct.pack('>HHH', 0x0014, 0x000B, len(sig)) + sig)

# Evidence: the Trustee v2 bundle as is, and a small skr-layout bundle whose
# fields are short (only the quote is real) so that the fuzzer can reshape it.
write('fuzz/corpus/evidence/milan-trustee-v2.json', ev_text)
small = {
    'tee': 'az-snp-vtpm',
    'hcl_report': base64.b64encode(b'HCLA\x01\x00\x00\x00').decode(),
    'vcek': base64.b64encode(b'\x30\x03\x02\x01\x00').decode(),
    'quote': {
        'attest': base64.b64encode(bytes.fromhex(quote['message'])).decode(),
        'signature': base64.b64encode(struct.pack('>HHH', 0x0014, 0x000B, 4) + b'\0' * 4).decode(),
    },
    'pcrs': {
        'sha256': {'0': quote['pcrs'][0], '7': quote['pcrs'][7]},
        'sha1': {'23': '00' * 20},
    },
}
write('fuzz/corpus/evidence/skr-small.json',
      (json.dumps(small, indent=1) + '\n').encode())

# Trusted Launch: the same quote with the real CA-03 as "ak_cert" and Azure's
# AK template as "ak_public" (an arbitrary modulus), instead of the HCL report.
import subprocess
ca03 = subprocess.run(['openssl', 'x509', '-in', 'tests/vectors/azure-vtpm/global-vtpm-ca-03.pem',
                       '-outform', 'der'], capture_output=True, check=True).stdout
attrs = 0x2 | 0x10 | 0x20 | 0x40 | 0x10000 | 0x40000
area = (struct.pack('>HHIH', 0x0001, 0x000B, attrs, 0) + struct.pack('>HHHHI', 0x10, 0x14, 0x0B, 2048, 0)
        + struct.pack('>H', 256) + b'\xc5' * 256)
tl = {k: v for k, v in small.items() if k not in ('hcl_report', 'vcek')}
tl['tee'] = 'azure-tl'
tl['ak_cert'] = base64.b64encode(ca03).decode()
tl['ak_public'] = base64.b64encode(struct.pack('>H', len(area)) + area).decode()
write('fuzz/corpus/evidence/azure-tl-small.json', (json.dumps(tl, indent=1) + '\n').encode())
# SVSM services manifests (src/verify/svsm_manifest.h), laid out as
# COCONUT-SVSM writes them, around the real swtpm EKs of tests/vectors/svsm.
# The target's first byte picks the form: 0 the services table, 1 the EK alone.
def hexfile(path):
    return bytes.fromhex(''.join(open(path).read().split()))

def mixed_guid(text):
    b = bytes.fromhex(text.replace('-', ''))
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]

MANIFEST = mixed_guid('63849ebb-3d92-4670-a1ff-58f9c94b87bb')
VTPM = mixed_guid('c476f1eb-0123-45a5-9641-b4e7dde5bfe3')

def manifest(services):
    off = 24 * (len(services) + 1)
    table, data = b'', b''
    for guid, blob in services:
        table += guid + struct.pack('<II', off + len(data), len(blob))
        data += blob
    return MANIFEST + struct.pack('<II', off + len(data), len(services)) + table + data

ek_rsa = hexfile('tests/vectors/svsm/ek-rsa2048.tpmt.hex')
ek_ecc = hexfile('tests/vectors/svsm/ek-ecc-p256.tpmt.hex')
other = bytes(range(16))
write('fuzz/corpus/svsm_manifest/services-vtpm.bin', b'\0' + manifest([(other, b''), (VTPM, ek_rsa)]))
write('fuzz/corpus/svsm_manifest/services-ecc-ek.bin', b'\0' + manifest([(VTPM, ek_ecc)]))
write('fuzz/corpus/svsm_manifest/services-none.bin', b'\0' + manifest([]))
write('fuzz/corpus/svsm_manifest/single-vtpm.bin', b'\1' + ek_rsa)
PY

#!/usr/bin/env python3
"""Independent replay of a TCG PC Client firmware event log.

Written from the TCG PC Client Platform Firmware Profile Specification
(version 1.05), not from skr's C code, so that the tests can check skr's
event-log parser and PCR replay against a second implementation.  Python 3
standard library only.  The parts of the specification used:

  - "TCG_PCR_EVENT Structure" (SHA-1 log format): UINT32 PCRIndex,
    UINT32 EventType, BYTE Digest[20], UINT32 EventSize, BYTE Event[].
  - "TCG_PCR_EVENT2 Structure" (crypto-agile format): UINT32 PCRIndex,
    UINT32 EventType, TPML_DIGEST_VALUES Digests (UINT32 count, then count
    TPMT_HA: UINT16 hashAlg, BYTE digest[size of hashAlg]), UINT32 EventSize,
    BYTE Event[].  All integers little-endian.
  - "Specification ID Version Event" (TCG_EfiSpecIDEvent): the first event
    of the log is a TCG_PCR_EVENT with PCRIndex 0, EventType EV_NO_ACTION;
    its data starts with Signature "Spec ID Event03\\0" for a crypto-agile log,
    then UINT32 platformClass, UINT8 specVersionMinor, specVersionMajor,
    specErrata, uintnSize, UINT32 numberOfAlgorithms, that many
    {UINT16 algorithmId, UINT16 digestSize}, UINT8 vendorInfoSize, vendorInfo.
    The digest sizes there are how TPMT_HA entries are sized.  Any other
    (or no) signature: every event is a TCG_PCR_EVENT (SHA-1 only).
  - "EV_NO_ACTION Event Types": events of type EV_NO_ACTION (0x00000003) are
    not extended into any PCR.
  - "Startup Locality Event" (TCG_EfiStartupLocalityEvent): an EV_NO_ACTION
    event in PCR 0 whose data is Signature "StartupLocality\\0" and
    UINT8 StartupLocality; PCR 0 then starts at 0x00...00 || locality
    (0x...03 for a locality-3 TPM2_Startup, 0x...04 for an H-CRTM)
    instead of all zeros.
  - Extending: PCR_new = H(PCR_old || digest), every PCR starting at zero
    (except PCR 0 as above, and PCRs 17-22, which the PC Client Platform TPM
    Profile (PTP) resets to all ones until a dynamic launch).

Output: {"sha1": {"0": "hex", ...}, "sha256": {...}}: one object per bank
the log carries, each PCR that at least one event extends.

Usage: tcg_replay.py LOG [--substitute INDEX:BANK:HEX]... [--events]
       tcg_replay.py LOG --insert-locality LOCALITY OUT
  --substitute       replay with event INDEX's BANK digest replaced by HEX
                     (INDEX counts every record of the log from 0, the Spec
                     ID event being 0)
  --events           print the parsed events as JSON instead of PCR values
  --insert-locality  write to OUT a copy of the (crypto-agile) LOG with a
                     StartupLocality event inserted after the Spec ID event
"""
import hashlib
import json
import struct
import sys

EV_NO_ACTION = 0x00000003
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003

# TPM_ALG_ID values (TCG Algorithm Registry) and their hashlib names.
ALGS = {
    0x0004: "sha1",
    0x000B: "sha256",
    0x000C: "sha384",
    0x000D: "sha512",
    0x0012: "sm3_256",
    0x0027: "sha3_256",
    0x0028: "sha3_384",
    0x0029: "sha3_512",
}


class LogError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n < 0 or self.left() < n:
            raise LogError(f"truncated at offset {self.pos}: need {n} bytes, {self.left()} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]


def alg_name(alg_id):
    return ALGS.get(alg_id, f"alg_0x{alg_id:04x}")


def parse_spec_id(data):
    """TCG_EfiSpecIDEvent -> {alg_id: digest_size}, or None if not Event03."""
    if len(data) < 16 or data[:16] != b"Spec ID Event03\0":
        return None
    r = Reader(data)
    r.take(16)
    r.u32()  # platformClass
    r.u8(), r.u8(), r.u8()  # specVersionMinor, specVersionMajor, specErrata
    r.u8()  # uintnSize
    n = r.u32()
    if n == 0:
        raise LogError("Spec ID Event03 lists no algorithm")
    sizes = {}
    for _ in range(n):
        alg, size = r.u16(), r.u16()
        sizes[alg] = size
    vendor = r.u8()
    r.take(vendor)
    return sizes


def parse(data):
    """Returns (banks, events): banks lists the bank names in log order;
    each event is {index, pcr, type, digests: {bank: bytes}, data: bytes}."""
    r = Reader(data)
    events = []
    # The first record is always a TCG_PCR_EVENT (SHA-1 format).
    pcr, etype = r.u32(), r.u32()
    digest = r.take(20)
    size = r.u32()
    first = {"index": 0, "pcr": pcr, "type": etype, "digests": {"sha1": digest}, "data": r.take(size)}
    sizes = parse_spec_id(first["data"]) if etype == EV_NO_ACTION and pcr == 0 else None
    if sizes is None:
        # SHA-1 log: every record is a TCG_PCR_EVENT.
        events.append(first)
        while r.left() > 0:
            pcr, etype = r.u32(), r.u32()
            digest = r.take(20)
            size = r.u32()
            events.append({"index": len(events), "pcr": pcr, "type": etype,
                           "digests": {"sha1": digest}, "data": r.take(size)})
        return ["sha1"], events
    first["digests"] = {}
    events.append(first)
    banks = [alg_name(a) for a in sizes]
    while r.left() > 0:
        pcr, etype = r.u32(), r.u32()
        count = r.u32()
        digests = {}
        for _ in range(count):
            alg = r.u16()
            if alg not in sizes:
                raise LogError(f"event {len(events)}: algorithm 0x{alg:04x} not in the Spec ID event")
            digests[alg_name(alg)] = r.take(sizes[alg])
        size = r.u32()
        events.append({"index": len(events), "pcr": pcr, "type": etype,
                       "digests": digests, "data": r.take(size)})
    return banks, events


def startup_locality(event):
    d = event["data"]
    if event["type"] == EV_NO_ACTION and event["pcr"] == 0 and \
            len(d) >= 17 and d[:16] == b"StartupLocality\0":
        return d[16]
    return None


def replay(banks, events, substitute=None):
    """{bank: {pcr: bytes}} after extending every event; substitute maps
    (index, bank) to the digest used instead of the logged one."""
    substitute = substitute or {}
    pcrs = {}
    locality = 0
    for e in events:
        loc = startup_locality(e)
        if loc is not None:
            locality = loc
    for bank in banks:
        h = hashlib.new(bank)  # fails loudly on a bank hashlib cannot compute
        values = {}
        for e in events:
            if e["type"] == EV_NO_ACTION:
                continue
            digest = substitute.get((e["index"], bank), e["digests"].get(bank))
            if digest is None:
                raise LogError(f"event {e['index']} has no {bank} digest")
            if len(digest) != h.digest_size:
                raise LogError(f"event {e['index']}: {bank} digest is {len(digest)} bytes")
            if e["pcr"] not in values:
                init = bytearray(h.digest_size)
                if 17 <= e["pcr"] <= 22:
                    init = bytearray(b"\xff" * h.digest_size)
                elif e["pcr"] == 0:
                    init[-1] = locality
                values[e["pcr"]] = bytes(init)
            values[e["pcr"]] = hashlib.new(bank, values[e["pcr"]] + digest).digest()
        pcrs[bank] = values
    return pcrs


def insert_locality(data, locality):
    """data with a TCG_PCR_EVENT2 StartupLocality event (EV_NO_ACTION, PCR 0,
    zero digests in every bank) inserted after the Spec ID event."""
    r = Reader(data)
    r.take(4 + 4 + 20)
    spec_id = r.take(r.u32())
    sizes = parse_spec_id(spec_id)
    if sizes is None:
        raise LogError("not a crypto-agile log (no Spec ID Event03)")
    event = struct.pack("<III", 0, EV_NO_ACTION, len(sizes))
    for alg, size in sizes.items():
        event += struct.pack("<H", alg) + bytes(size)
    payload = b"StartupLocality\0" + bytes([locality])
    event += struct.pack("<I", len(payload)) + payload
    return data[:r.pos] + event + data[r.pos:]


def usage():
    print(__doc__[__doc__.index("Usage:"):].rstrip(), file=sys.stderr)
    return 2


def main(argv):
    args = argv[1:]
    log, subs, show_events, locality = None, {}, False, None
    while args:
        a = args.pop(0)
        if a == "--insert-locality" and len(args) >= 2:
            locality, out_path = int(args.pop(0)), args.pop(0)
            continue
        if a == "--substitute" and args:
            try:
                index, bank, hexd = args.pop(0).split(":")
                subs[(int(index), bank)] = bytes.fromhex(hexd)
            except ValueError:
                print("tcg_replay: --substitute wants INDEX:BANK:HEX", file=sys.stderr)
                return 2
        elif a == "--events":
            show_events = True
        elif log is None and not a.startswith("-"):
            log = a
        else:
            return usage()
    if log is None:
        return usage()
    try:
        with open(log, "rb") as f:
            data = f.read()
        if locality is not None:
            with open(out_path, "wb") as f:
                f.write(insert_locality(data, locality))
            return 0
        banks, events = parse(data)
        for (index, bank) in subs:
            if index >= len(events) or bank not in banks:
                raise LogError(f"--substitute {index}:{bank}: no such event or bank")
        if show_events:
            out = [{"index": e["index"], "pcr": e["pcr"], "type": e["type"],
                    "digests": {b: d.hex() for b, d in e["digests"].items()},
                    "data": e["data"].hex()} for e in events]
        else:
            pcrs = replay(banks, events, subs)
            out = {bank: {str(p): v.hex() for p, v in sorted(values.items())}
                   for bank, values in pcrs.items()}
    except (OSError, LogError, ValueError) as e:
        print(f"tcg_replay: {log}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

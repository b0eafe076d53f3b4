#!/usr/bin/env python3
"""Tampers with an exported audit log or checkpoint list, as an attacker would.

audit_tamper.py OP IN OUT [ARG...]
  check             (IN only) every row's hash recomputed here, independently of
                    the C code, from the canonical encoding in
                    src/common/audit_chain.h; prints "ok" or the first mismatch
  edit SEQ          row SEQ's client changed, nothing else
  rehash SEQ        row SEQ's client changed and its hash recomputed
  rewrite SEQ       row SEQ's client changed and the chain recomputed from it on
  delete SEQ        row SEQ removed
  swap A B          rows A and B change places in the file
  truncate K        the newest K rows removed
  forge-cp I        checkpoint I's (1-based) hash changed, its signature kept
  cp-seq I          checkpoint I's seq changed, its signature kept
Rows keep the broker's order (newest first).
"""
import hashlib, json, struct, sys

NAMES = ["key_id", "client", "action", "verdict", "reason", "detail"]


def field(v):
    if v is None:
        return b"\x00"
    return b"\x01" + struct.pack(">I", len(v)) + v


def encode(r):
    out = b"skr-audit-row/1\x00" + struct.pack(">Q", r["seq"]) + bytes.fromhex(r["prev"])
    out += struct.pack(">q", r["time"])
    for n in NAMES:
        out += field(None if r[n] is None else r[n].encode())
    d = r["evidence_digest"]
    out += field(None if d is None else bytes.fromhex(d))
    return out


def row_hash(r):
    return hashlib.sha256(encode(r)).hexdigest()


def by_seq(rows, seq):
    return next(r for r in rows if r["seq"] == seq)


def main():
    op, src = sys.argv[1], sys.argv[2]
    data = json.load(open(src))
    if op == "check":
        for r in sorted(data, key=lambda r: r["seq"]):
            if row_hash(r) != r["hash"]:
                print("row %d: hash %s, recomputed %s" % (r["seq"], r["hash"], row_hash(r)))
                return
        print("ok")
        return
    dst, args = sys.argv[3], [int(a) for a in sys.argv[4:]]
    if op in ("edit", "rehash", "rewrite"):
        by_seq(data, args[0])["client"] = "203.0.113.66"
        if op == "rehash":
            r = by_seq(data, args[0])
            r["hash"] = row_hash(r)
        if op == "rewrite":
            prev = by_seq(data, args[0])["prev"]
            for r in sorted(data, key=lambda r: r["seq"]):
                if r["seq"] >= args[0]:
                    r["prev"] = prev
                    r["hash"] = prev = row_hash(r)
    elif op == "delete":
        data = [r for r in data if r["seq"] != args[0]]
    elif op == "swap":
        i = data.index(by_seq(data, args[0]))
        j = data.index(by_seq(data, args[1]))
        data[i], data[j] = data[j], data[i]
    elif op == "truncate":
        data = data[args[0]:]
    elif op == "forge-cp":
        c = data[args[0] - 1]
        c["hash"] = ("0" if c["hash"][0] != "0" else "1") + c["hash"][1:]
    elif op == "cp-seq":
        data[args[0] - 1]["seq"] += 1
    else:
        sys.exit("unknown op " + op)
    json.dump(data, open(dst, "w"))


main()

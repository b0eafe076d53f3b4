#!/usr/bin/env python3
"""Writes a marshalled TPM2B_PUBLIC for an RSA-2048 key (its modulus in hex),
as an Azure Trusted Launch AK would have, or with one attribute changed.

usage: ak_public.py MODULUS_HEX OUT [--unrestricted] [--decrypt] [--no-fixedtpm]
                                     [--sha1-scheme]
"""
import struct
import sys

FIXEDTPM, FIXEDPARENT, SENSITIVEDATAORIGIN, USERWITHAUTH = 0x2, 0x10, 0x20, 0x40
RESTRICTED, DECRYPT, SIGN = 0x10000, 0x20000, 0x40000
ALG_RSA, ALG_SHA1, ALG_SHA256, ALG_NULL, ALG_RSASSA = 0x1, 0x4, 0xB, 0x10, 0x14


def main(argv):
    modulus = bytes.fromhex(argv[1])
    opts = set(argv[3:])
    attrs = FIXEDTPM | FIXEDPARENT | SENSITIVEDATAORIGIN | USERWITHAUTH | RESTRICTED | SIGN
    if "--unrestricted" in opts:
        attrs &= ~RESTRICTED
    if "--decrypt" in opts:
        attrs |= DECRYPT
    if "--no-fixedtpm" in opts:
        attrs &= ~FIXEDTPM
    hash_alg = ALG_SHA1 if "--sha1-scheme" in opts else ALG_SHA256
    area = struct.pack(">HHI", ALG_RSA, ALG_SHA256, attrs)
    area += struct.pack(">H", 0)                                 # authPolicy
    area += struct.pack(">HHHHI", ALG_NULL, ALG_RSASSA, hash_alg, 2048, 0)
    area += struct.pack(">H", len(modulus)) + modulus            # unique.rsa
    with open(argv[2], "wb") as f:
        f.write(struct.pack(">H", len(area)) + area)


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env python3
"""Extends a (fresh) swtpm's sha256 PCRs with the events of a real firmware
event log, so that the vTPM's values are what that boot produced: the live
PCRs then replay to the log, as on a real machine.  Used by the reseal tests
to stand for "this VM booted with that log" (and, with --swap, for the next
boot, whose kernel event measures another image).

Usage: replay_pcrs.py EVENTS.json PCRS TCTI [--swap INDEX=HEX,...]
  EVENTS.json  `skrctl eventlog show LOG --json`
  PCRS         comma-separated PCR indexes to replay, e.g. 4,7
  --swap       replace the sha256 digest of the events with these indexes
"""
import json
import os
import subprocess
import sys

EV_NO_ACTION = 3


def main():
    events, pcrs, tcti = sys.argv[1], {int(p) for p in sys.argv[2].split(",")}, sys.argv[3]
    swap = {}
    if len(sys.argv) > 5 and sys.argv[4] == "--swap":
        swap = dict(x.split("=") for x in sys.argv[5].split(",") if x)
    env = dict(os.environ, TPM2TOOLS_TCTI=tcti)
    n = 0
    for e in json.load(open(events)):
        if e["pcr"] not in pcrs or e["type"] == EV_NO_ACTION or "sha256" not in e["digests"]:
            continue
        digest = swap.get(str(e["index"]), e["digests"]["sha256"])
        subprocess.run(["tpm2_pcrextend", f"{e['pcr']}:sha256={digest}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        n += 1
    if n == 0:
        sys.exit("replay_pcrs: no event of the log extends those PCRs")


if __name__ == "__main__":
    main()

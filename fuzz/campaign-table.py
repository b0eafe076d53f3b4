#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The fuzzing campaign's table, from bench/results/fuzz-campaign.json.

    python3 fuzz/campaign-table.py [RESULTS] [BUILD_DIR]

prints, and writes between the `<!-- fuzz-campaign begin -->` and
`<!-- fuzz-campaign end -->` markers of bench/README.md, one row per target
done (seconds, execs, edges, features, corpus, crashes, commit) and the
targets that remain: those without a run of at least the requested seconds
without a crash.  The remaining list names every fuzz/fuzz_*.c of the tree
(or every BUILD_DIR/fuzz_* when given).  fuzz/campaign.sh runs it at the
end of a campaign that wrote the default results file.
"""
import glob
import json
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def table(data, names):
    req = data.get("requested_seconds", 600)
    targets = data.get("targets", {})
    done = {n: t for n, t in targets.items()
            if t.get("seconds", 0) >= req and t.get("crashes") == 0}
    rows = ["| target | seconds | execs | execs/s | cov (edges) | ft | corpus | date | commit |",
            "|---|---|---|---|---|---|---|---|---|"]
    for n in sorted(done):
        t = done[n]
        rate = t["execs"] / t["seconds"] if t.get("execs") and t.get("seconds") else 0
        rows.append(f"| {n} | {t['seconds']} | {t.get('execs', 0):,} | {rate:,.0f} | "
                    f"{t.get('cov')} | {t.get('ft')} | {t.get('corpus')} | "
                    f"{t.get('date', '')[:10]} | {t.get('commit', '')[:7]} |")
    crashed = {n: t for n, t in targets.items() if t.get("crashes") not in (0, None)}
    left = sorted(set(names) - set(done))
    total = sum(t.get("execs") or 0 for t in done.values())
    out = [f"{len(done)} of {len(set(names) | set(done))} targets done for at least "
           f"{req} s each ({total:,} executions in all):", ""]
    out += rows
    out.append("")
    if crashed:
        out.append("Crashed in their last recorded run (fixed or not, to run again): "
                   + ", ".join(f"{n} ({' '.join(t['crashes'])})" for n, t in sorted(crashed.items()))
                   + ".")
        out.append("")
    if left:
        out.append("Not done yet (for a later `make fuzz-campaign`): " + ", ".join(left) + ".")
    else:
        out.append("Every target is done.")
    return "\n".join(out) + "\n"


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "bench/results/fuzz-campaign.json")
    if len(sys.argv) > 2:
        names = [os.path.basename(p)[len("fuzz_"):] for p in glob.glob(os.path.join(sys.argv[2], "fuzz_*"))
                 if os.access(p, os.X_OK) and os.path.isfile(p)]
    else:
        names = [os.path.basename(p)[len("fuzz_"):-2] for p in glob.glob(os.path.join(TOP, "fuzz/fuzz_*.c"))]
    with open(results) as f:
        text = table(json.load(f), names)
    sys.stdout.write(text)
    readme = os.path.join(TOP, "bench/README.md")
    with open(readme) as f:
        doc = f.read()
    begin, end = "<!-- fuzz-campaign begin -->\n", "<!-- fuzz-campaign end -->"
    a, b = doc.find(begin), doc.find(end)
    if a < 0 or b < a:
        sys.exit("fuzz/campaign-table.py: bench/README.md has no fuzz-campaign markers")
    new = doc[:a + len(begin)] + text + doc[b:]
    if new != doc:
        tmp = readme + ".tmp"
        with open(tmp, "w") as f:
            f.write(new)
        os.replace(tmp, readme)


if __name__ == "__main__":
    main()

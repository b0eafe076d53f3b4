#!/usr/bin/env python3
"""Turns bench/initramfs.sh's file lists into bench/results/initramfs.json.

Per tool (initramfs-tools, dracut): files, uncompressed bytes (regular files)
and compressed image size of the baseline and the skr image, and what skr
adds or changes, grouped.  The run is stored under its label; runs with
other labels already in the file are kept.
"""
import argparse
import datetime
import json
import os
import re


def load(work, image):
    files = {}
    with open(os.path.join(work, image + ".files")) as f:
        for line in f:
            size, path = line.rstrip("\n").split("\t", 1)
            files[path] = int(size)
    with open(os.path.join(work, image + ".links")) as f:
        links = [l.rstrip("\n") for l in f if l.strip()]
    with open(os.path.join(work, image + ".size")) as f:
        compressed = int(f.read().strip())
    return files, links, compressed


SKR_PROGRAMS = re.compile(r"(^|/)(skr-unlock|libcryptsetup-token-skr\.so)$")


def group_of(path):
    name = path.rsplit("/", 1)[-1]
    if SKR_PROGRAMS.search(path):
        return "skr_programs"
    if re.search(r"\.ko(\.(xz|zst|gz))?$", name) or re.match(r"(usr/)?lib/modules/", path):
        return "kernel_modules"
    if re.search(r"\.so(\.|$)", name):
        return "libraries"
    if path.startswith(("scripts/", "usr/lib/dracut/hooks/", "usr/lib/systemd/system/",
                        "etc/systemd/system/", "usr/lib/systemd/network/")) or path.endswith(".sh"):
        return "scripts_units"
    if path.startswith(("etc/", "conf/")):
        return "configuration"
    return "other"


def compare(work, base, skr, pkgs):
    bfiles, blinks, bsize = load(work, base)
    sfiles, slinks, ssize = load(work, skr)
    added = sorted(p for p in sfiles if p not in bfiles)
    changed = sorted(p for p in sfiles if p in bfiles and sfiles[p] != bfiles[p])
    removed = sorted(p for p in bfiles if p not in sfiles)
    groups = {}
    for p in added:
        g = groups.setdefault(group_of(p), {"files": 0, "bytes": 0, "list": []})
        g["files"] += 1
        g["bytes"] += sfiles[p]
        entry = {"path": p, "bytes": sfiles[p]}
        if p in pkgs:
            entry["package"] = pkgs[p]
        g["list"].append(entry)
    lib_pkgs = sorted({pkgs.get(p, "?") for p in added if group_of(p) == "libraries"})
    return {
        "baseline": {"files": len(bfiles), "symlinks": len(blinks),
                     "bytes_uncompressed": sum(bfiles.values()), "image_bytes": bsize},
        "skr": {"files": len(sfiles), "symlinks": len(slinks),
                "bytes_uncompressed": sum(sfiles.values()), "image_bytes": ssize},
        "added": {"files": len(added), "bytes_uncompressed": sum(sfiles[p] for p in added),
                  "symlinks": len([l for l in slinks if l not in set(blinks)]),
                  "image_bytes": ssize - bsize,
                  "library_packages": lib_pkgs},
        "added_by_group": groups,
        "changed": [{"path": p, "baseline_bytes": bfiles[p], "skr_bytes": sfiles[p]} for p in changed],
        "removed": removed,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--unlock-needed", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    pkgs = {}
    with open(os.path.join(a.work, "pkgs")) as f:
        for line in f:
            path, pkg = line.rstrip("\n").split("\t", 1)
            pkgs[path] = pkg
    images = a.images.split()
    run = {
        "label": a.label,
        "commit": a.commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernel": a.kernel,
        "root": os.path.basename(a.root.rstrip("/")),
        "skr_unlock_needed": a.unlock_needed.split(),
        "initramfs_tools": compare(a.work, "itools-baseline", "itools-skr", pkgs),
    }
    if "dracut-skr" in images:
        run["dracut"] = compare(a.work, "dracut-baseline", "dracut-skr", pkgs)

    doc = {"what": "files and bytes skr adds to a key-file initramfs (bench/initramfs.sh)",
           "runs": []}
    if os.path.exists(a.out):
        with open(a.out) as f:
            doc = json.load(f)
    doc["runs"] = [r for r in doc.get("runs", []) if r.get("label") != a.label] + [run]
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)

    for tool in ("initramfs_tools", "dracut"):
        if tool not in run:
            continue
        r = run[tool]
        print(f"{a.label} {tool}: baseline {r['baseline']['files']} files "
              f"{r['baseline']['bytes_uncompressed']} B ({r['baseline']['image_bytes']} B image); "
              f"skr adds {r['added']['files']} files {r['added']['bytes_uncompressed']} B, "
              f"image +{r['added']['image_bytes']} B")
        for g, v in sorted(r["added_by_group"].items()):
            print(f"  {g}: {v['files']} files, {v['bytes']} B")
        print(f"  library packages: {' '.join(r['added']['library_packages'])}")


if __name__ == "__main__":
    main()

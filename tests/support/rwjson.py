#!/usr/bin/python3
"""Hand-written image JSON for what no real tool makes (realworld_test.sh).

    rwjson.py manifest MEDIATYPE CONFIG_MT CONFIG_FILE [--artifact-type T]
              LAYER_MT:FILE[:URL] ...
        Print a manifest (compact JSON) whose config and layers are the given
        files (digest and size computed).  With :URL the layer is a foreign one:
        it gets "urls": [URL] (the registry never holds it); URL1|URL2|... lists
        several, in that order.
    rwjson.py index MT:DIGEST:SIZE[:PLATFORM[:ANNOTATIONS_JSON]] ...
        Print an OCI index over the given descriptors; PLATFORM is os/arch.
    rwjson.py tamper-config IN OUT
        Copy a config, flipping the last hex digit of its first diff_id (same
        length, so every size stays right).
    rwjson.py tamper-tar IN OUT
        Rewrite a docker-load tarball or OCI archive so that every image config
        has a wrong first diff_id, while every digest in the archive stays
        self-consistent: the config, and each manifest/index that names a
        changed blob, is renamed to its new digest.  Only a diff_id check can
        tell the result from a good archive.
"""
import hashlib
import io
import json
import os
import sys
import tarfile


IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                      "application/vnd.docker.container.image.v1+json")


def die(msg):
    print(f"rwjson.py: {msg}", file=sys.stderr)
    sys.exit(1)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_desc(mt, path, urls=None):
    with open(path, "rb") as f:
        data = f.read()
    d = {"mediaType": mt, "digest": "sha256:" + sha(data), "size": len(data)}
    if urls:
        d["urls"] = urls
    return d


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def cmd_manifest(args):
    if len(args) < 3:
        die("manifest: MEDIATYPE CONFIG_MT CONFIG_FILE [--artifact-type T] LAYER...")
    mt, cmt, cfile, rest = args[0], args[1], args[2], args[3:]
    m = {"schemaVersion": 2, "mediaType": mt, "config": file_desc(cmt, cfile), "layers": []}
    if rest[:1] == ["--artifact-type"]:
        m["artifactType"] = rest[1]
        rest = rest[2:]
    for spec in rest:
        lmt, path, *url = spec.split(":", 2)
        m["layers"].append(file_desc(lmt, path, url[0].split("|") if url else None))
    print(compact(m))


def cmd_index(args):
    ms = []
    for spec in args:
        parts = spec.split(":", 5)
        if len(parts) < 4:
            die(f"index: bad descriptor {spec!r} (MT:sha256:HEX:SIZE[:OS/ARCH[:ANNOTATIONS]])")
        d = {"mediaType": parts[0], "digest": parts[1] + ":" + parts[2], "size": int(parts[3])}
        if len(parts) > 4 and parts[4]:
            os_, arch = parts[4].split("/", 1)
            d["platform"] = {"architecture": arch, "os": os_}
        if len(parts) > 5:
            d["annotations"] = json.loads(parts[5])
        ms.append(d)
    print(compact({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": ms}))


def flip_diff_id(data):
    cfg = json.loads(data)
    ids = cfg.get("rootfs", {}).get("diff_ids") or die("config has no rootfs.diff_ids")
    old = ids[0]
    new = old[:-1] + ("0" if old[-1] != "0" else "1")
    out = data.replace(old.encode(), new.encode())
    if out == data:
        die("diff_id not found verbatim in the config bytes")
    return out


def cmd_tamper_config(args):
    with open(args[0], "rb") as f:
        data = f.read()
    with open(args[1], "wb") as f:
        f.write(flip_diff_id(data))


def config_digests(files):
    """Hex digests of every image config reachable from index.json/manifest.json."""
    out = set()
    if "manifest.json" in files:
        for e in json.loads(files["manifest.json"]):
            out.add(os.path.basename(e["Config"]).split(".")[0].replace("sha256:", ""))

    def walk(hexd):
        doc = json.loads(files.get("blobs/sha256/" + hexd, b"{}"))
        if doc.get("config", {}).get("mediaType") in IMAGE_CONFIG_TYPES:
            out.add(doc["config"]["digest"].split(":", 1)[1])
        for m in doc.get("manifests", []):
            walk(m["digest"].split(":", 1)[1])

    if "index.json" in files:
        for m in json.loads(files["index.json"]).get("manifests", []):
            walk(m["digest"].split(":", 1)[1])
    return out


def cmd_tamper_tar(args):
    src, dst = args
    files, order, infos = {}, [], {}
    with tarfile.open(src) as t:
        for ti in t.getmembers():
            order.append(ti.name)
            infos[ti.name] = ti
            if ti.isfile():
                files[ti.name] = t.extractfile(ti).read()
    cfgs = config_digests(files)
    if not cfgs:
        die(f"{src}: no image config found")
    renames = {}
    for hexd in cfgs:
        name = next((n for n in files if n.endswith(hexd) or n.endswith(hexd + ".json")), None)
        name or die(f"{src}: config {hexd} missing")
        files[name] = flip_diff_id(files[name])
    changed = {n for n in files if any(n.endswith(h) or n.endswith(h + ".json") for h in cfgs)}
    while changed:
        for n in changed:
            old = os.path.basename(n).split(".")[0]
            if len(old) == 64:
                renames[old] = sha(files[n])
        nxt = set()
        for n, data in files.items():
            if len(data) > (4 << 20) or not data.lstrip()[:1] in (b"{", b"["):
                continue
            new = data
            for o, h in renames.items():
                new = new.replace(o.encode(), h.encode())
            if new != data:
                files[n] = new
                if n.startswith("blobs/sha256/"):
                    nxt.add(n)
        changed = {n for n in nxt if sha(files[n]) != os.path.basename(n)}
    def rename(n):
        base = os.path.basename(n)
        for o, h in renames.items():
            if base.startswith(o):
                return n[: len(n) - len(base)] + base.replace(o, h)
        return n
    with tarfile.open(dst, "w") as t:
        for n in order:
            ti = infos[n]
            ti.name = rename(n)
            if ti.isfile():
                ti.size = len(files[n])
                t.addfile(ti, io.BytesIO(files[n]))
            else:
                t.addfile(ti)
    print(compact({"renamed": renames}))


def main(argv):
    cmds = {"manifest": cmd_manifest, "index": cmd_index, "tamper-config": cmd_tamper_config,
            "tamper-tar": cmd_tamper_tar}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[1]](argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

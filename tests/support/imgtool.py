#!/usr/bin/python3
"""Small inspection helpers for ferry's shell integration tests (no jq needed).

    imgtool.py json FILE|- EXPR
        Evaluate the Python expression EXPR with d = the parsed JSON document.
        A string prints as-is, a list prints one element per line (strings
        as-is, others as compact JSON), anything else as compact JSON.
          imgtool.py json manifest.json 'd["config"]["digest"]'
          imgtool.py json manifest.json '[l["digest"] for l in d["layers"]]'

    imgtool.py oci-diff-ids DIR REF
        For the image REF (index.json ref.name annotation) of the OCI layout
        DIR, print the sha256 of each layer's *uncompressed* content, in order
        (gzip'd and plain tar layers both work).  Compare with the config's
        rootfs.diff_ids: it proves the layer bytes are right whatever
        compression the exporter chose.

    imgtool.py oci-check DIR REF
        Verify the OCI layout DIR holds REF completely: its index.json entry
        (ref.name annotation), the manifest or index it points to, and every
        blob reachable from there (sub-manifests, configs, layers) exist with
        the right sha256 and size.  Prints the entry's digest.  Unlike
        `skopeo inspect oci:DIR:REF`, this also works for entries with Docker
        media types, which skopeo 1.9 does not look up in index.json.

    imgtool.py docker-tar TAR
        Print a JSON summary of a `docker save`-style tarball: for each entry
        of manifest.json, its RepoTags, the sha256 of its config file, and per
        layer the file name, sha256 of the file, sha256 of its uncompressed
        content (diff_id) and whether it is gzip'd.  Fails if manifest.json
        names a file the tarball lacks.
"""

import gzip
import hashlib
import json
import os
import sys
import tarfile

GZIP_MAGIC = b"\x1f\x8b"


def die(msg):
    sys.stderr.write("imgtool.py: %s\n" % msg)
    sys.exit(2)


def digest_stream(f, chunk=1 << 20):
    """sha256 of a file object, and of its uncompressed content if gzip'd."""
    head = f.read(2)
    f.seek(0)
    raw = hashlib.sha256()
    if head == GZIP_MAGIC:
        # Hash compressed bytes first, then rewind and hash the decompressed stream.
        for b in iter(lambda: f.read(chunk), b""):
            raw.update(b)
        f.seek(0)
        unc = hashlib.sha256()
        with gzip.GzipFile(fileobj=f) as g:
            for b in iter(lambda: g.read(chunk), b""):
                unc.update(b)
        return "sha256:" + raw.hexdigest(), "sha256:" + unc.hexdigest(), True
    for b in iter(lambda: f.read(chunk), b""):
        raw.update(b)
    d = "sha256:" + raw.hexdigest()
    return d, d, False


def cmd_json(path, expr):
    d = json.load(sys.stdin if path == "-" else open(path))
    v = eval(expr, {"__builtins__": __builtins__}, {"d": d})
    if isinstance(v, str):
        print(v)
    elif isinstance(v, (list, tuple)):
        for x in v:
            print(x if isinstance(x, str) else json.dumps(x, sort_keys=True, separators=(",", ":")))
    else:
        print(json.dumps(v, sort_keys=True, separators=(",", ":")))


def blob_path(layout, digest):
    algo, _, hexd = digest.partition(":")
    return os.path.join(layout, "blobs", algo, hexd)


def cmd_oci_diff_ids(layout, ref):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    matches = [m for m in index.get("manifests", [])
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if len(matches) != 1:
        die("%d entries named %r in %s/index.json" % (len(matches), ref, layout))
    with open(blob_path(layout, matches[0]["digest"])) as f:
        manifest = json.load(f)
    if "layers" not in manifest:
        die("%r is not an image manifest (mediaType %s)" % (ref, manifest.get("mediaType")))
    for layer in manifest["layers"]:
        with open(blob_path(layout, layer["digest"]), "rb") as f:
            _, unc, _ = digest_stream(f)
        print(unc)


def cmd_oci_check(layout, ref):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    matches = [m for m in index.get("manifests", [])
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if len(matches) != 1:
        die("%d entries named %r in %s/index.json" % (len(matches), ref, layout))

    def check(desc, what):
        path = blob_path(layout, desc["digest"])
        if not os.path.exists(path):
            die("%s %s: blob missing (%s)" % (what, desc["digest"], path))
        with open(path, "rb") as f:
            data = f.read()
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != desc["digest"] or len(data) != desc["size"]:
            die("%s %s: content is %s, %d bytes (descriptor says %d)"
                % (what, desc["digest"], got, len(data), desc["size"]))
        return data

    def walk(desc, what):
        doc = json.loads(check(desc, what))
        for m in doc.get("manifests", []):   # index / manifest list
            walk(m, "manifest")
        if "config" in doc:
            check(doc["config"], "config")
        for layer in doc.get("layers", []):
            check(layer, "layer")

    walk(matches[0], "top-level manifest")
    print(matches[0]["digest"])


def cmd_docker_tar(path):
    out = []
    with tarfile.open(path) as tar:
        names = set(tar.getnames())

        def member(name):
            if name not in names:
                die("%s: manifest.json names %r, which is not in the tarball" % (path, name))
            m = tar.getmember(name)
            # docker-archive writers (skopeo) use symlinks for layer.tar; follow them.
            while m.issym() or m.islnk():
                target = m.linkname if m.islnk() else os.path.normpath(
                    os.path.join(os.path.dirname(m.name), m.linkname))
                m = tar.getmember(target)
            return tar.extractfile(m)

        if "manifest.json" not in names:
            die("%s has no manifest.json" % path)
        manifest = json.load(tar.extractfile("manifest.json"))
        for entry in manifest:
            cfg_bytes = member(entry["Config"]).read()
            item = {
                "RepoTags": entry.get("RepoTags"),
                "Config": entry["Config"],
                "config_digest": "sha256:" + hashlib.sha256(cfg_bytes).hexdigest(),
                "config": json.loads(cfg_bytes),
                "layers": [],
            }
            for name in entry["Layers"]:
                d, unc, gz = digest_stream(member(name))
                item["layers"].append({"file": name, "sha256": d, "diff_id": unc,
                                       "gzip": gz})
            out.append(item)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) == 4 and argv[1] == "json":
        cmd_json(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "oci-diff-ids":
        cmd_oci_diff_ids(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "oci-check":
        cmd_oci_check(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "docker-tar":
        cmd_docker_tar(argv[2])
    else:
        die("usage: imgtool.py json FILE EXPR | oci-diff-ids DIR REF | oci-check DIR REF | docker-tar TAR (see --help)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

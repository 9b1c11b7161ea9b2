#!/usr/bin/python3
"""Hostile variants of a ferry bundle, for the hostile-input suite.

    forge_archive.py bundle-ref-to-hollow IN OUT
        OUT is IN with one more manifest blob whose config and layer the archive
        does not hold, and ferry-bundle.json's first image pointed at it (the
        reference unchanged): a forged description.
    forge_archive.py blob-as-link IN OUT TARGET
        OUT is IN with its largest blobs/sha256 entry turned into a symlink to
        TARGET (a path relative to that entry). The entry's content moves to
        other/data first, so TARGET=../../other/data resolves inside the archive
        and anything else leads nowhere. Prints the blob's digest.
    forge_archive.py bundle-referrer IN OUT OF SUBJECT
        OUT is IN with ferry-bundle.json's first image marked as a referrer:
        referrerOf OF and subject SUBJECT, as given (hostile values welcome).
"""
import hashlib
import io
import json
import sys
import tarfile


def members(path):
    with tarfile.open(path) as t:
        return [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]


def write(path, items):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for m, data in items:
            if data is not None:
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)


def file_member(name, data):
    m = tarfile.TarInfo(name)
    m.size = len(data)
    m.mode = 0o644
    return m, data


def bundle_ref_to_hollow(src, dst):
    items = members(src)
    absent = "sha256:" + hashlib.sha256(b"absent").hexdigest()
    hollow = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": absent, "size": 6},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": absent, "size": 6}],
    }, separators=(",", ":")).encode()
    hexd = hashlib.sha256(hollow).hexdigest()
    out = []
    for m, data in items:
        if m.name == "ferry-bundle.json":
            doc = json.loads(data)
            doc["images"][0]["manifest"] = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                            "digest": "sha256:" + hexd, "size": len(hollow)}
            data = json.dumps(doc).encode()
        out.append((m, data))
    out.append(file_member("blobs/sha256/" + hexd, hollow))
    write(dst, out)


def blob_as_link(src, dst, target):
    items = members(src)
    blobs = [(m, d) for m, d in items if m.name.startswith("blobs/sha256/") and d is not None]
    victim, content = max(blobs, key=lambda md: len(md[1]))
    out = []
    for m, data in items:
        if m is victim:
            link = tarfile.TarInfo(m.name)
            link.type = tarfile.SYMTYPE
            link.linkname = target
            out.append((link, None))
        else:
            out.append((m, data))
    out.append(file_member("other/data", content))
    write(dst, out)
    print("sha256:" + victim.name.rsplit("/", 1)[1])


def bundle_referrer(src, dst, of, subject):
    out = []
    for m, data in members(src):
        if m.name == "ferry-bundle.json":
            doc = json.loads(data)
            doc["images"][0]["referrerOf"] = of
            doc["images"][0]["subject"] = subject
            data = json.dumps(doc).encode()
        out.append((m, data))
    write(dst, out)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "bundle-ref-to-hollow":
        bundle_ref_to_hollow(*args)
    elif cmd == "bundle-referrer":
        bundle_referrer(*args)
    elif cmd == "blob-as-link":
        blob_as_link(*args)
    else:
        sys.exit(f"forge_archive.py: unknown command {cmd}")


if __name__ == "__main__":
    main()

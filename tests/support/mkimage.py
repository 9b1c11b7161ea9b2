#!/usr/bin/python3
"""Deterministic OCI image generator for ferry's integration tests.

Writes (or extends) an OCI image layout directory:

    DIR/oci-layout
    DIR/index.json                 one entry per tag, annotated with
                                   org.opencontainers.image.ref.name=TAG
    DIR/blobs/sha256/<hex>         layers, configs, manifests, indexes

so that `skopeo copy oci:DIR:TAG docker://...` can push it.

Everything is a pure function of the arguments: the same command line gives
byte-identical blobs (gzip mtime=0, tar mtime/uid/gid fixed, content from a
seeded PRNG).  A layer is named by a SEED and a SIZE: two images that list the
same SEED:SIZE share that layer blob (same digest), which is how tests build
"two images sharing base layers".

Layer content is incompressible pseudo-random bytes, so the compressed size is
close to SIZE and transfer sizes in tests are real.

Usage examples:
    mkimage.py DIR --tag v1 --layer base:200000 --layer app-v1:50000
    mkimage.py DIR --tag multi --multiarch --layer base:100000
    mkimage.py DIR --tag v1 --arch arm64 --layer x:1000 --json

With --multiarch the tag points to an OCI image index with linux/amd64 and
linux/arm64 manifests; each platform gets its own layers (the seed is suffixed
with the architecture) and its own config.

On success a JSON summary is printed when --json is given (digests of the
top-level manifest/index, configs, layers, diff_ids), so shell tests can
compare what ferry produced with what was pushed.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
EPOCH = "1970-01-01T00:00:00Z"


def canonical_json(obj):
    """Stable bytes for a JSON document (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path):
        self.path = path
        self.blobdir = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobdir, exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        index_path = os.path.join(path, "index.json")
        if os.path.exists(index_path):
            with open(index_path) as f:
                self.index = json.load(f)
        else:
            self.index = {"schemaVersion": 2, "manifests": []}

    def put_blob(self, data):
        """Store bytes as a blob; return (digest, size)."""
        hexd = hashlib.sha256(data).hexdigest()
        dst = os.path.join(self.blobdir, hexd)
        if not os.path.exists(dst):
            tmp = dst + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, dst)
        return "sha256:" + hexd, len(data)

    def tag(self, tag, descriptor):
        """Point TAG at descriptor (replacing any previous entry for TAG)."""
        entries = [m for m in self.index["manifests"]
                   if m.get("annotations", {}).get(REF_NAME) != tag]
        d = dict(descriptor)
        d["annotations"] = {REF_NAME: tag}
        entries.append(d)
        self.index["manifests"] = entries
        tmp = os.path.join(self.path, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.index, f, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(self.path, "index.json"))


def make_layer_tar(seed, size):
    """An uncompressed tar whose payload is SIZE seeded pseudo-random bytes.

    The payload is split over a few files in a directory named after the seed
    so different layers never collide on paths (docker load applies them in
    order and would otherwise just overwrite, which is fine but confusing).
    """
    rng = random.Random("ferry-layer:%s:%d" % (seed, size))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in seed) or "layer"
    nfiles = 1 if size < 4096 else 3
    sizes = [size // nfiles] * nfiles
    sizes[-1] += size - sum(sizes)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def info(name, typ, length=0, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.size = length
            ti.mode = mode
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            return ti
        tar.addfile(info("layers", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(info("layers/" + safe, tarfile.DIRTYPE, mode=0o755))
        for i, n in enumerate(sizes):
            data = rng.randbytes(n)
            tar.addfile(info("layers/%s/file%d.bin" % (safe, i), tarfile.REGTYPE, n),
                        io.BytesIO(data))
    return buf.getvalue()


GZIP_LEVEL = 6  # --gzip-level; 1 is several times faster on the random payloads


def gzip_bytes(data):
    """gzip with mtime=0 and no file name, so output is deterministic."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL) as g:
        g.write(data)
    return out.getvalue()


def parse_layer(spec):
    seed, sep, size = spec.rpartition(":")
    if not sep or not seed:
        raise argparse.ArgumentTypeError("layer must be SEED:SIZE, got %r" % spec)
    try:
        n = int(size)
    except ValueError:
        raise argparse.ArgumentTypeError("layer size must be an integer: %r" % spec)
    if n < 0:
        raise argparse.ArgumentTypeError("layer size must be >= 0: %r" % spec)
    return seed, n


def build_image(layout, layers, arch, os_name, variant, image_seed):
    """Write layers, config and manifest; return (manifest descriptor, summary)."""
    layer_descs, diff_ids, history, summary_layers = [], [], [], []
    for seed, size in layers:
        raw = make_layer_tar(seed, size)
        gz = gzip_bytes(raw)
        digest, length = layout.put_blob(gz)
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        layer_descs.append({"mediaType": MT_OCI_LAYER_GZIP, "digest": digest, "size": length})
        diff_ids.append(diff_id)
        history.append({"created": EPOCH, "created_by": "mkimage.py layer %s:%d" % (seed, size)})
        summary_layers.append({"seed": seed, "size": size, "digest": digest,
                               "compressed_size": length, "diff_id": diff_id})
    config = {
        "architecture": arch,
        "os": os_name,
        "created": EPOCH,
        "author": "ferry-mkimage",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "FERRY_IMAGE_SEED=%s" % image_seed],
            "Cmd": ["/bin/true"],
            "Labels": {"org.ferry.test.seed": image_seed},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if variant:
        config["variant"] = variant
    config_digest, config_size = layout.put_blob(canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    }
    m_digest, m_size = layout.put_blob(canonical_json(manifest))
    platform = {"architecture": arch, "os": os_name}
    if variant:
        platform["variant"] = variant
    desc = {"mediaType": MT_OCI_MANIFEST, "digest": m_digest, "size": m_size,
            "platform": platform}
    summary = {"manifest": m_digest, "config": config_digest, "platform": platform,
               "layers": summary_layers, "diff_ids": diff_ids}
    return desc, summary


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Write a deterministic OCI image (or multi-arch index) into an OCI layout dir.")
    p.add_argument("dir", help="OCI layout directory (created or extended)")
    p.add_argument("--tag", required=True, help="tag (index.json ref.name annotation)")
    p.add_argument("--layer", action="append", type=parse_layer, default=[],
                   metavar="SEED:SIZE",
                   help="layer of SIZE random bytes from SEED (repeatable, base first); "
                        "same SEED:SIZE => same blob")
    p.add_argument("--seed", default=None,
                   help="image seed for the config (default: the tag); different seeds "
                        "give different configs even with identical layers")
    p.add_argument("--arch", default="amd64", help="architecture for a single image (default amd64)")
    p.add_argument("--os", default="linux", dest="os_name")
    p.add_argument("--variant", default=None)
    p.add_argument("--multiarch", action="store_true",
                   help="tag an OCI index with linux/amd64 and linux/arm64/v8; "
                        "layer seeds are suffixed with '-<arch>' so platforms differ")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--gzip-level", type=int, default=6, choices=range(0, 10),
                   help="gzip level of the layers (default 6; 1 is fastest for big test images; "
                        "another level gives other digests)")
    args = p.parse_args(argv)
    global GZIP_LEVEL
    GZIP_LEVEL = args.gzip_level

    if not args.layer:
        args.layer = [("default-" + args.tag, 1024)]
    image_seed = args.seed if args.seed is not None else args.tag
    layout = Layout(args.dir)

    if args.multiarch:
        descs, summaries = [], []
        for arch, variant in (("amd64", None), ("arm64", "v8")):
            layers = [("%s-%s" % (s, arch), n) for s, n in args.layer]
            d, s = build_image(layout, layers, arch, args.os_name, variant,
                               "%s-%s" % (image_seed, arch))
            descs.append(d)
            summaries.append(s)
        index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": descs}
        i_digest, i_size = layout.put_blob(canonical_json(index))
        layout.tag(args.tag, {"mediaType": MT_OCI_INDEX, "digest": i_digest, "size": i_size})
        summary = {"tag": args.tag, "mediaType": MT_OCI_INDEX, "digest": i_digest,
                   "manifests": summaries}
    else:
        d, s = build_image(layout, args.layer, args.arch, args.os_name, args.variant, image_seed)
        top = {k: d[k] for k in ("mediaType", "digest", "size")}
        layout.tag(args.tag, top)
        summary = {"tag": args.tag, "mediaType": MT_OCI_MANIFEST, "digest": d["digest"],
                   "manifests": [s]}
    if args.json:
        json.dump(summary, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

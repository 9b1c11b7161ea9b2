#!/usr/bin/python3
"""Deterministic image fleet for ferry's benchmark (run with Debian's /usr/bin/python3).

    fleet.py gen --cache DIR --seed S --scale X --blobgen BIN [--jobs N]
        Build every layer (bench/blobgen.c: gzip'd tar of seeded bytes), config
        and manifest of the fleet into DIR/blobs/<hex> and describe it in
        DIR/fleet.json.  Layers already in DIR are reused: DIR should be keyed by
        seed and scale (run.sh does that), so a second run generates nothing.
    fleet.py install --cache DIR --storage REGISTRY_STORAGE
        Write the fleet straight into a stopped-or-running distribution 2.8
        filesystem storage (blobs hard-linked from the cache when possible,
        repository _layers / _manifests links, tags).  No push, no HTTP.
    fleet.py lists --cache DIR --registry HOST:PORT --out DIR --store S --concurrency N
        Write the inputs of each tool for that registry address:
        watchlist.yaml (ferry), skopeo-sync.yaml, images.txt (REPO:TAG per line),
        blobs.txt (REPO DIGEST SIZE per unique blob the amd64 sync needs) and
        big.txt (the REPO:TAG of the image with the 1 GB layer).

Shape at scale 1 (sizes before gzip; the gzip'd blobs are ~80% of that):
20 repositories, 22 tags; three base layers (50, 30, 3.5 MB) shared by 10/6/4
images; four runtime layers (60-190 MB) shared by 2-4 images; eight big app
layers (50-200 MB), one 20-60 MB layer per image and 4-12 small layers (2 KB-3 MB)
per image; one Docker manifest list (linux/amd64 + linux/arm64); every fourth
image is an OCI manifest, the rest Docker schema2.  Plus fleet/big:1g (a 1 GB
layer on the alpine base) for the export-memory scenario, not in the watchlist.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

MB = 1000 * 1000
V2S2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
V2S2_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
V2S2_CONFIG = "application/vnd.docker.container.image.v1+json"
V2S2_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

BASES = {"base-debian": 50 * MB, "base-ubuntu": 30 * MB, "base-alpine": 3.5 * MB}
RUNTIMES = {"rt-python": 60 * MB, "rt-node": 45 * MB, "rt-jdk": 190 * MB, "rt-go": 120 * MB}
BIG = [200, 180, 150, 120, 100, 80, 60, 50]

# repo, tags, base, runtime (or None), index of a big layer (or None)
IMAGES = [
    ("fleet/api", ["v1", "v2"], "base-debian", "rt-python", 0),
    ("fleet/worker", ["v1"], "base-debian", "rt-python", None),
    ("fleet/scheduler", ["v1"], "base-debian", "rt-python", None),
    ("fleet/ml-serve", ["v1"], "base-debian", "rt-python", 1),
    ("fleet/web", ["v1", "v2"], "base-debian", "rt-node", None),
    ("fleet/frontend", ["v1"], "base-debian", "rt-node", 2),
    ("fleet/ssr", ["v1"], "base-debian", "rt-node", None),
    ("fleet/billing", ["v1"], "base-ubuntu", "rt-jdk", 3),
    ("fleet/search", ["v1"], "base-ubuntu", "rt-jdk", 4),
    ("fleet/kafka", ["v1"], "base-ubuntu", "rt-jdk", None),
    ("fleet/gateway", ["v1"], "base-ubuntu", "rt-go", None),
    ("fleet/auth", ["v1"], "base-ubuntu", "rt-go", 5),
    ("fleet/metrics", ["v1"], "base-ubuntu", None, None),
    ("fleet/proxy", ["v1"], "base-alpine", None, None),
    ("fleet/cache", ["v1"], "base-alpine", None, 6),
    ("fleet/cron", ["v1"], "base-alpine", None, None),
    ("fleet/tools", ["v1"], "base-debian", None, 7),
    ("fleet/db", ["v1"], "base-debian", None, None),
    ("fleet/queue", ["v1"], "base-debian", None, None),
    ("fleet/multi", ["v1"], "base-alpine", None, None),  # the manifest list
]
MULTI = "fleet/multi"
BIG_IMAGE = ("fleet/big", "1g", "base-alpine", 1000 * MB)


def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Builder:
    def __init__(self, cache, seed, scale, blobgen, jobs):
        self.cache, self.seed, self.scale, self.blobgen = cache, seed, scale, blobgen
        self.blobs = os.path.join(cache, "blobs")
        os.makedirs(self.blobs, exist_ok=True)
        self.layer_specs = {}  # name -> size (before scaling)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        self.futures = {}

    def layer(self, name, size):
        """Ask for layer NAME of SIZE bytes (scaled); returns its name."""
        if name not in self.futures:
            self.futures[name] = self.pool.submit(self._make_layer, name, max(1024, int(size * self.scale)))
        return name

    def _make_layer(self, name, size):
        meta = os.path.join(self.cache, "layers", name + ".json")
        if os.path.exists(meta):
            with open(meta) as f:
                return json.load(f)
        os.makedirs(os.path.dirname(meta), exist_ok=True)
        tmp = os.path.join(self.cache, "layers", name + ".gz.tmp")
        out = subprocess.run([self.blobgen, "%s/%s" % (self.seed, name), str(size), tmp],
                             check=True, capture_output=True, text=True).stdout.split()
        digest, length, diff_id = out[0], int(out[1]), out[2]
        os.replace(tmp, os.path.join(self.blobs, digest))
        info = {"digest": "sha256:" + digest, "size": length, "diff_id": "sha256:" + diff_id,
                "name": name, "tar_size": size}
        with open(meta + ".tmp", "w") as f:
            json.dump(info, f)
        os.replace(meta + ".tmp", meta)
        return info

    def get(self, name):
        return self.futures[name].result()

    def put(self, data):
        hexd = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, hexd)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        return "sha256:" + hexd, len(data)


def image_layers(b, rnd, repo, tag, base, runtime, big, arch="amd64"):
    """The layer names of one image, bottom first."""
    key = "%s-%s-%s" % (repo.replace("/", "-"), tag, arch)
    names = [b.layer(base if arch == "amd64" else base + "-arm64", BASES[base])]
    if runtime:
        names.append(b.layer(runtime if arch == "amd64" else runtime + "-arm64", RUNTIMES[runtime]))
    # tag v2 shares v1's bottom app layers: only the top ones differ.
    app = "%s-%s" % (repo.replace("/", "-"), arch)
    if big is not None:
        names.append(b.layer(app + "-big", BIG[big] * MB))
    names.append(b.layer(app + "-main", rnd.randint(20, 60) * MB))
    for i in range(rnd.randint(4, 12)):
        size = int(rnd.choice([2e3, 8e3, 40e3, 150e3, 600e3, 1.5e6, 3e6]) * rnd.uniform(0.5, 1.0))
        names.append(b.layer("%s-small%d" % (key if i >= 2 else app, i), size))
    return names


def make_image(b, names, oci, arch="amd64"):
    """Config + manifest for layer NAMES; returns (manifest bytes, media type, blobs)."""
    layers = [b.get(n) for n in names]
    config = {
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "Labels": {"bench.layers": ",".join(names)}},
        "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "bench " + n} for n in names],
    }
    cdigest, csize = b.put(canon(config))
    mt, ct, lt = (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER) if oci else (V2S2_MANIFEST, V2S2_CONFIG, V2S2_LAYER)
    manifest = {
        "schemaVersion": 2, "mediaType": mt,
        "config": {"mediaType": ct, "digest": cdigest, "size": csize},
        "layers": [{"mediaType": lt, "digest": l["digest"], "size": l["size"]} for l in layers],
    }
    data = json.dumps(manifest, indent=3).encode()
    blobs = [cdigest] + [l["digest"] for l in layers]
    sizes = {cdigest: csize, **{l["digest"]: l["size"] for l in layers}}
    return data, mt, blobs, sizes


def gen(args):
    rnd = random.Random(args.seed)
    b = Builder(args.cache, args.seed, args.scale, args.blobgen, args.jobs)
    plan = []
    for idx, (repo, tags, base, runtime, big) in enumerate(IMAGES):
        for t in tags:
            archs = ["amd64", "arm64"] if repo == MULTI else ["amd64"]
            plan.append((idx, repo, t, {a: image_layers(b, rnd, repo, t, base, runtime, big, a) for a in archs}))
    brepo, btag, bbase, bsize = BIG_IMAGE
    big_names = [b.layer(bbase, BASES[bbase]), b.layer("big-1g", bsize)]
    for name in list(b.futures):
        b.get(name)  # wait for every layer (and fail early)
    fleet = {"seed": args.seed, "scale": args.scale, "images": [], "manifests": {}}
    def add_manifest(data, mt):
        d, _ = b.put(data)
        fleet["manifests"][d] = mt
        return d
    for idx, repo, tag, per_arch in plan:
        oci = idx % 4 == 3
        entry = {"repo": repo, "tag": tag, "blobs": [], "sizes": {}, "children": []}
        for arch, names in per_arch.items():
            data, mt, blobs, sizes = make_image(b, names, oci, arch)
            d = add_manifest(data, mt)
            entry["children"].append({"arch": arch, "digest": d, "size": len(data), "media_type": mt,
                                      "blobs": blobs})
            entry["sizes"].update(sizes)
        if len(per_arch) > 1:
            lst = {"schemaVersion": 2, "mediaType": V2S2_LIST, "manifests": [
                {"mediaType": c["media_type"], "digest": c["digest"], "size": c["size"],
                 "platform": {"architecture": c["arch"], "os": "linux",
                              **({"variant": "v8"} if c["arch"] == "arm64" else {})}}
                for c in entry["children"]]}
            entry["digest"] = add_manifest(json.dumps(lst, indent=3).encode(), V2S2_LIST)
        else:
            entry["digest"] = entry["children"][0]["digest"]
        entry["blobs"] = [x for c in entry["children"] for x in c["blobs"]]
        fleet["images"].append(entry)
    data, mt, blobs, sizes = make_image(b, big_names, False)
    fleet["big"] = {"repo": brepo, "tag": btag, "digest": add_manifest(data, mt),
                    "children": [{"arch": "amd64", "blobs": blobs}], "blobs": blobs, "sizes": sizes}
    with open(os.path.join(args.cache, "fleet.json.tmp"), "w") as f:
        json.dump(fleet, f, indent=1)
    os.replace(os.path.join(args.cache, "fleet.json.tmp"), os.path.join(args.cache, "fleet.json"))
    u = unique_amd64(fleet)
    print("fleet: %d tags, %d unique amd64 blobs, %.1f MB to fetch (seed %s, scale %s)" % (
        len(fleet["images"]), len(u), sum(s for _, _, s in u) / MB, args.seed, args.scale))


def unique_amd64(fleet):
    """(repo, digest, size) of every blob an amd64 sync of the fleet needs, each once."""
    seen, out = set(), []
    for img in fleet["images"]:
        for c in img["children"]:
            if c["arch"] != "amd64":
                continue
            for d in c["blobs"]:
                if d not in seen:
                    seen.add(d)
                    out.append((img["repo"], d, img["sizes"][d]))
    return out


def load(cache):
    with open(os.path.join(cache, "fleet.json")) as f:
        return json.load(f)


def install(args):
    fleet = load(args.cache)
    root = os.path.join(args.storage, "docker", "registry", "v2")

    def write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def blob(d):
        hexd = d.split(":", 1)[1]
        dst = os.path.join(root, "blobs", "sha256", hexd[:2], hexd, "data")
        if os.path.exists(dst):
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        src = os.path.join(args.cache, "blobs", hexd)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)

    for img in fleet["images"] + [fleet["big"]]:
        repo = os.path.join(root, "repositories", img["repo"])
        for d in img["blobs"]:
            blob(d)
            write(os.path.join(repo, "_layers", "sha256", d[7:], "link"), d)
        manifests = [c["digest"] for c in img["children"] if "digest" in c] + [img["digest"]]
        for d in manifests:
            blob(d)
            write(os.path.join(repo, "_manifests", "revisions", "sha256", d[7:], "link"), d)
        tag = os.path.join(repo, "_manifests", "tags", img["tag"])
        write(os.path.join(tag, "current", "link"), img["digest"])
        write(os.path.join(tag, "index", "sha256", img["digest"][7:], "link"), img["digest"])


def lists(args):
    fleet = load(args.cache)
    os.makedirs(args.out, exist_ok=True)
    reg = args.registry
    by_repo = {}
    for img in fleet["images"]:
        by_repo.setdefault(img["repo"], []).append(img["tag"])
    with open(os.path.join(args.out, "watchlist.yaml"), "w") as f:
        f.write("store: %s\nconcurrency: %d\nplatforms: [linux/amd64]\n" % (args.store, args.concurrency))
        if args.export:
            f.write("export: %s\n" % args.export)
        f.write("registries:\n  %s: { insecure: true }\nimages:\n" % reg)
        for repo, tags in by_repo.items():
            f.write("  - name: %s/%s\n    tags: [%s]\n" % (reg, repo, ", ".join('"%s"' % t for t in tags)))
    with open(os.path.join(args.out, "skopeo-sync.yaml"), "w") as f:
        f.write("%s:\n  tls-verify: false\n  images:\n" % reg)
        for repo, tags in by_repo.items():
            f.write("    %s: [%s]\n" % (repo, ", ".join('"%s"' % t for t in tags)))
    with open(os.path.join(args.out, "images.txt"), "w") as f:
        for img in fleet["images"]:
            f.write("%s:%s\n" % (img["repo"], img["tag"]))
    with open(os.path.join(args.out, "blobs.txt"), "w") as f:
        for repo, d, size in unique_amd64(fleet):
            f.write("%s %s %d\n" % (repo, d, size))
    with open(os.path.join(args.out, "big.txt"), "w") as f:
        f.write("%s:%s %d\n" % (fleet["big"]["repo"], fleet["big"]["tag"],
                                max(fleet["big"]["sizes"].values())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--cache", required=True)
    g.add_argument("--seed", default="ferry-bench-1")
    g.add_argument("--scale", type=float, default=1.0)
    g.add_argument("--blobgen", required=True)
    g.add_argument("--jobs", type=int, default=2)
    i = sub.add_parser("install")
    i.add_argument("--cache", required=True)
    i.add_argument("--storage", required=True)
    l = sub.add_parser("lists")
    l.add_argument("--cache", required=True)
    l.add_argument("--registry", required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--store", required=True)
    l.add_argument("--export", default="")
    l.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    {"gen": gen, "install": install, "lists": lists}[args.cmd](args)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit("fleet.py: %s failed: %s" % (e.cmd, e.stderr))

// schema1_convert: a Docker schema1 image pulled and stored as a loadable schema2 one.
//
// A schema1 manifest has no config blob and no layer sizes, and nothing downstream
// (export, push, verify, docker load) reads it. So pull fetches its layers (the
// non-throwaway fsLayers, sizes unknown, verified by digest), then, on the engine's
// worker, builds what containers/image and docker pull build: a config from the
// v1Compatibility entries with rootfs.diff_ids from decompressing each layer, and a
// schema2 manifest naming that config and the original gzip layers with their real
// sizes. The store gets three blobs: the schema1 payload (the bytes whose sha256 IS
// the schema1 digest, so blobs/ stays content-addressed), the config and the schema2
// manifest. index.json names the schema2 manifest, annotated with the schema1 digest
// (store::kSchema1DigestAnnotation), and last-pulls.json records the schema1 digest,
// so the next HEAD (which answers the schema1 digest) sees the tag unchanged.
//
// Deterministic: the same schema1 manifest and layers give the same config and
// manifest bytes, hence the same digests, on every run and machine.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "manifest/schema1.h"
#include "store/store.h"

namespace ferry::sync {

struct Schema1Source {
  digest::Digest digest;  // sha256 of payload: what the reference resolved to
  std::string payload;    // the signed payload (or the unsigned body)
  manifest::Schema1 manifest;
};

// From a GET reply whose digest the registry client already computed and checked.
// Errors say schema1 and what is wrong.
[[nodiscard]] core::Result<Schema1Source> read_schema1(const std::string& body, const digest::Digest& d);

// A schema1 image has one platform: fine when `all` is set or one of `wanted` matches
// its os/architecture (and variant, when both name one); else a one-line error naming both.
[[nodiscard]] core::Status check_schema1_platform(const manifest::Schema1& m,
                                                  const std::vector<manifest::Platform>& wanted, bool all);

// The blobs pull must fetch: each distinct non-throwaway layer once, size -1 (unknown).
std::vector<manifest::Descriptor> schema1_blobs(const manifest::Schema1& m);

// Every blob of schema1_blobs() is in `store`: build and put the payload, the config
// and the schema2 manifest. Returns the schema2 manifest's descriptor with its
// platform and the schema1 digest annotation. Blocking (reads and inflates every
// layer, fsyncs): run it on a worker. A layer that is not gzip fails, saying schema1.
[[nodiscard]] core::Result<manifest::Descriptor> convert_schema1(store::Store& store, const Schema1Source& src);

}  // namespace ferry::sync

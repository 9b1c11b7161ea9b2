// Referrers: the manifests that name an image as their `subject` (signatures,
// SBOMs, attestations), found the ways registries and tools publish them:
//
//   1. the OCI 1.1 referrers API, GET /v2/<repo>/referrers/<digest>: an index of
//      descriptors, each pulled as <repo>@<digest>;
//   2. when that API answers 404 (the spec's "not supported"), the referrers tag
//      schema: the tag sha256-<hex> holds that index, pulled as <repo>:sha256-<hex>
//      (so a push recreates the tag for registries without the API);
//   3. always, cosign's own tags sha256-<hex>.sig, .att and .sbom, each a manifest.
//
// A lookup that is not found is no referrer; any other failure fails the lookup
// (an image asked with referrers is not mirrored without them, silently). What was
// found is pulled like any reference, all platforms, and recorded in index.json with
// the annotations below, so gc keeps it while its subject is kept, bundles carry it
// and push uploads it with its subject.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "registry/client.h"

namespace ferry::sync {

// A referrer found: where it is, and the digest the lookup saw (the HEAD of a tag,
// or the API's descriptor), so an unchanged one needs no second request.
struct Referrer {
  reference::Reference ref;
  digest::Digest digest;
};

// The referrers of `subject` (what `subject_ref` resolved to), in a stable order,
// each reference once. Runs on the loop thread; `done` is called once.
void discover_referrers(registry::Client& client, const reference::Reference& subject_ref,
                        const digest::Digest& subject, std::function<void(core::Result<std::vector<Referrer>>)> done);

// The referrers named by a referrers API answer (an OCI index: its manifests), as
// <repo>@<digest> references in `subject_ref`'s repository. Fails on a body that is
// not an index.
[[nodiscard]] core::Result<std::vector<reference::Reference>> referrers_from_index(
    std::string_view body, const reference::Reference& subject_ref);

// The tags of the fallback schema and of cosign for `subject`:
// sha256-<hex>, sha256-<hex>.sig, .att, .sbom.
[[nodiscard]] std::vector<std::string> referrer_tags(const digest::Digest& subject);

}  // namespace ferry::sync

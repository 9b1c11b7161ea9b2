#include "sync/referrers.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <variant>

#include <fmt/format.h>

namespace ferry::sync {

namespace {

constexpr std::string_view kCosignSuffixes[] = {".sig", ".att", ".sbom"};

// One discovery: the API answer (or the fallback tag) in slot 0, the cosign tags in
// slots 1..3, so the order of the result does not depend on network timing.
struct Discovery {
  reference::Reference subject_ref;
  std::vector<std::vector<Referrer>> slots = std::vector<std::vector<Referrer>>(4);
  std::optional<core::Error> error;
  int pending = 0;
  std::function<void(core::Result<std::vector<Referrer>>)> done;

  void finish_one() {
    if (--pending > 0) return;
    if (error) return done(core::fail(*error));
    std::vector<Referrer> out;
    for (auto& slot : slots) {
      for (auto& r : slot) {
        if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o.ref == r.ref; })) {
          out.push_back(std::move(r));
        }
      }
    }
    done(std::move(out));
  }
  void fail(core::Error e) {
    if (!error) error = std::move(e);
  }
};

reference::Reference tagged(const reference::Reference& subject_ref, std::string tag) {
  reference::Reference r = subject_ref;
  r.tag = std::move(tag);
  r.digest.reset();
  return r;
}

// HEAD <repo>:<tag>: present puts the tag into `slot`; 404 leaves it empty.
void lookup_tag(registry::Client& client, const std::shared_ptr<Discovery>& d, size_t slot, std::string tag) {
  ++d->pending;
  const std::string repo = d->subject_ref.repository;
  client.get_manifest(repo, tag, true, [d, slot, tag](core::Result<registry::ManifestReply> r) {
    if (r && r->digest.empty()) {
      d->fail(core::error(core::ErrorKind::InvalidInput,
                          fmt::format("referrers tag {}: the registry's HEAD names no Docker-Content-Digest", tag)));
    } else if (r) {
      d->slots[slot].push_back({tagged(d->subject_ref, tag), r->digest});
    } else if (r.error().http_status != 404) {
      core::Error e = r.error();
      d->fail(e.context(fmt::format("referrers tag {}", tag)));
    }
    d->finish_one();
  });
}

}  // namespace

std::vector<std::string> referrer_tags(const digest::Digest& subject) {
  const std::string base = fmt::format("sha256-{}", subject.hex());
  std::vector<std::string> out{base};
  for (auto s : kCosignSuffixes) out.push_back(base + std::string(s));
  return out;
}

core::Result<std::vector<reference::Reference>> referrers_from_index(std::string_view body,
                                                                     const reference::Reference& subject_ref) {
  auto parsed = manifest::parse(body, manifest::media::kOciIndex);
  if (!parsed) return core::fail(parsed.error().context("referrers answer"));
  const auto* index = std::get_if<manifest::Index>(&*parsed);
  if (!index) {
    return core::fail(core::ErrorKind::InvalidInput, "referrers answer: an image manifest, not an index");
  }
  std::vector<reference::Reference> out;
  for (const auto& d : index->manifests) {
    reference::Reference r = subject_ref;
    r.tag.clear();
    r.digest = d.digest;
    if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o == r; })) out.push_back(std::move(r));
  }
  return out;
}

void discover_referrers(registry::Client& client, const reference::Reference& subject_ref,
                        const digest::Digest& subject,
                        std::function<void(core::Result<std::vector<Referrer>>)> done) {
  auto d = std::make_shared<Discovery>();
  d->subject_ref = subject_ref;
  d->done = std::move(done);
  const auto tags = referrer_tags(subject);
  d->pending = 1;  // held until every lookup has started
  ++d->pending;
  client.get_referrers(subject_ref.repository, subject,
                       [d, &client, fallback = tags[0]](core::Result<std::optional<std::string>> r) {
                         if (!r) {
                           core::Error e = r.error();
                           d->fail(e.context("referrers API"));
                         } else if (!*r) {
                           lookup_tag(client, d, 0, fallback);  // no API here: the tag schema
                         } else if (auto refs = referrers_from_index(**r, d->subject_ref); !refs) {
                           d->fail(refs.error());
                         } else {
                           for (auto& ref : *refs) d->slots[0].push_back({ref, *ref.digest});
                         }
                         d->finish_one();
                       });
  for (size_t k = 1; k < tags.size(); ++k) lookup_tag(client, d, k, tags[k]);
  d->finish_one();
}

}  // namespace ferry::sync

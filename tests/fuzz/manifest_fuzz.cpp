// libFuzzer target: ferry::manifest::parse, parse_config and the schema1 path.
// The first byte picks the content type (or the config parser, or schema1); the rest
// is the body. Schema1: whatever parses converts to a config that parse_config reads
// back with the same diff_ids and platform.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz_check.h"
#include "manifest/manifest.h"
#include "manifest/schema1.h"

namespace {

using namespace ferry;

void check_descriptor(const manifest::Descriptor& d) {
  FUZZ_CHECK(d.size >= 0);
  auto again = digest::Digest::parse(d.digest.str());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == d.digest);
}

void fuzz_manifest(std::string_view body, std::string_view content_type) {
  auto r = manifest::parse(body, content_type);
  if (!r) {
    fuzz::check_error(r.error());
    return;
  }
  if (auto* m = std::get_if<manifest::ImageManifest>(&*r)) {
    check_descriptor(m->config);
    for (const auto& l : m->layers) check_descriptor(l);
    if (m->subject) check_descriptor(*m->subject);
    FUZZ_CHECK(!manifest::is_index_type(m->media_type));
  } else {
    const auto& idx = std::get<manifest::Index>(*r);
    for (const auto& e : idx.manifests) check_descriptor(e);
    if (idx.subject) check_descriptor(*idx.subject);
    FUZZ_CHECK(!manifest::is_image_manifest_type(idx.media_type));
    for (const auto& e : manifest::image_entries(idx)) FUZZ_CHECK(manifest::is_image_entry(e));
    auto sel = manifest::select_platform(idx, manifest::Platform{"linux", "amd64", "", ""});
    if (sel) {
      FUZZ_CHECK(manifest::is_image_entry(*sel));
    } else {
      fuzz::check_error(sel.error());
    }
  }
}

void fuzz_config(std::string_view body) {
  auto r = manifest::parse_config(body);
  if (!r) {
    fuzz::check_error(r.error());
    return;
  }
  FUZZ_CHECK(!r->platform.os.empty());
  FUZZ_CHECK(!r->platform.architecture.empty());
  for (const auto& d : r->diff_ids) FUZZ_CHECK(digest::Digest::parse(d.str()).has_value());
}

void fuzz_schema1(std::string_view body) {
  auto payload = manifest::schema1_payload(body);
  if (!payload) return fuzz::check_error(payload.error());
  auto m = manifest::parse_schema1(*payload);
  if (!m) return fuzz::check_error(m.error());
  FUZZ_CHECK(m->fs_layers.size() == m->history.size() && m->history.size() == m->compat.size());
  FUZZ_CHECK(!m->fs_layers.empty());
  std::vector<digest::Digest> diff_ids;
  for (const auto& l : manifest::schema1_layers(*m)) diff_ids.push_back(digest::sha256_of(l.str()));
  auto config = manifest::schema1_config(*m, diff_ids);
  if (!config) return fuzz::check_error(config.error());
  auto back = manifest::parse_config(*config);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->diff_ids == diff_ids);
  FUZZ_CHECK(back->platform.os == m->platform.os && back->platform.architecture == m->platform.architecture);
}

constexpr std::array<std::string_view, 7> kContentTypes = {
    "",
    "application/json",
    manifest::media::kDockerManifest,
    manifest::media::kDockerList,
    manifest::media::kOciManifest,
    manifest::media::kOciIndex,
    "application/vnd.oci.image.index.v1+json; charset=utf-8",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body = fuzz::as_view(data + 1, size - 1);
  const size_t pick = data[0] % (kContentTypes.size() + 2);
  if (pick == kContentTypes.size() + 1)
    fuzz_schema1(body);
  else if (pick == kContentTypes.size())
    fuzz_config(body);
  else
    fuzz_manifest(body, kContentTypes[pick]);
  return 0;
}

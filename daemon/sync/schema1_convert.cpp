// schema1 -> schema2 for pull: the blob list, the platform check and the conversion
// itself (layers inflated for their diff_ids, three blobs put into the store).
#include "sync/schema1_convert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "codec/layer_decoder.h"
#include "store/fs_util.h"

namespace ferry::sync {

namespace {

constexpr size_t kReadBuffer = 1 << 20;

struct LayerFacts {
  digest::Digest diff_id;
  int64_t size = 0;  // of the compressed blob
};

core::Error schema1_error(core::ErrorKind kind, std::string message) {
  return core::error(kind, "schema1 image: " + std::move(message));
}

// The size of a stored layer and the sha256 of what it inflates to.
core::Result<LayerFacts> inspect_layer(const store::Store& store, const digest::Digest& d, std::string& buffer) {
  const auto path = store.blob_path(d);
  auto opened = store.open_blob(d);
  if (!opened) return core::fail(opened.error());
  const int fd = opened->get();
  codec::LayerDecoder gunzip;
  uint64_t offset = 0;
  for (;;) {
    auto n = store::pread_full(fd, buffer.data(), buffer.size(), offset, path);
    if (!n) return core::fail(n.error());
    if (offset == 0 && codec::detect(std::string_view(buffer.data(), *n)) != codec::Compression::Gzip) {
      return core::fail(schema1_error(core::ErrorKind::Unsupported,
                                      fmt::format("layer {} is not gzip-compressed; schema1 layers must be, "
                                                  "so it cannot be converted",
                                                  d.str())));
    }
    if (*n == 0) break;
    if (auto st = gunzip.update(buffer.data(), *n); !st) {
      return core::fail(schema1_error(st.error().kind, fmt::format("layer {}: {}", d.str(), st.error().message)));
    }
    offset += *n;
  }
  auto inflated = gunzip.finish();
  if (!inflated) {
    return core::fail(schema1_error(inflated.error().kind, fmt::format("layer {}: {}", d.str(), inflated.error().message)));
  }
  return LayerFacts{inflated->diff_id, static_cast<int64_t>(offset)};
}

manifest::Descriptor descriptor(std::string_view media_type, const std::string& body) {
  return manifest::Descriptor{std::string(media_type), digest::sha256_of(body),
                              static_cast<int64_t>(body.size()), std::nullopt, {}, {}};
}

}  // namespace

core::Result<Schema1Source> read_schema1(const std::string& body, const digest::Digest& d) {
  auto payload = manifest::schema1_payload(body);
  if (!payload) return core::fail(payload.error());
  if (digest::sha256_of(*payload) != d) {  // the client computed d the same way: a bug if not
    return core::fail(schema1_error(core::ErrorKind::Internal, "payload digest changed between reads"));
  }
  auto m = manifest::parse_schema1(*payload);
  if (!m) return core::fail(m.error());
  return Schema1Source{d, std::move(*payload), std::move(*m)};
}

core::Status check_schema1_platform(const manifest::Schema1& m, const std::vector<manifest::Platform>& wanted,
                                    bool all) {
  if (all) return {};
  const manifest::Platform& have = m.platform;
  for (const auto& w : wanted) {
    const bool variant_ok = w.variant.empty() || have.variant.empty() || w.variant == have.variant;
    if (w.os == have.os && w.architecture == have.architecture && variant_ok) return {};
  }
  std::string asked;
  for (const auto& w : wanted) asked += (asked.empty() ? "" : ", ") + w.str();
  return core::fail(schema1_error(core::ErrorKind::NotFound,
                                  fmt::format("the manifest is for {} only (schema1 has one platform), not {}",
                                              have.str(), asked)));
}

std::vector<manifest::Descriptor> schema1_blobs(const manifest::Schema1& m) {
  std::vector<manifest::Descriptor> out;
  for (const auto& d : manifest::schema1_layers(m)) {
    if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.digest == d; })) continue;
    out.push_back({std::string(manifest::media::kDockerLayerGzip), d, -1, std::nullopt, {}, {}});
  }
  return out;
}

core::Result<manifest::Descriptor> convert_schema1(store::Store& store, const Schema1Source& src) {
  std::string buffer(kReadBuffer, '\0');
  std::map<digest::Digest, LayerFacts> facts;
  std::vector<digest::Digest> diff_ids;
  std::vector<manifest::Descriptor> layers;
  for (const auto& d : manifest::schema1_layers(src.manifest)) {
    auto it = facts.find(d);
    if (it == facts.end()) {
      auto f = inspect_layer(store, d, buffer);
      if (!f) return core::fail(f.error());
      it = facts.emplace(d, *f).first;
    }
    diff_ids.push_back(it->second.diff_id);
    layers.push_back({std::string(manifest::media::kDockerLayerGzip), d, it->second.size, std::nullopt, {}, {}});
  }
  auto config = manifest::schema1_config(src.manifest, diff_ids);
  if (!config) return core::fail(config.error());
  const auto config_desc = descriptor(manifest::media::kDockerConfig, *config);
  const std::string body = manifest::schema2_manifest(config_desc, layers);
  auto out = descriptor(manifest::media::kDockerManifest, body);
  out.platform = src.manifest.platform;
  out.annotations[std::string(store::kSchema1DigestAnnotation)] = src.digest.str();
  // Payload first, manifest last: a manifest in blobs/ always has what it names.
  auto st = store.put_blob(src.digest, src.payload)
                .and_then([&] { return store.put_blob(config_desc.digest, *config); })
                .and_then([&] { return store.put_blob(out.digest, body); });
  if (!st) return core::fail(st.error());
  return out;
}

}  // namespace ferry::sync

// Parsing manifests and indexes: media-type resolution, schema checks, descriptors.
//
// The flow is: refuse oversized bodies, parse the JSON (depth-limited, unique keys),
// refuse schema1, decide the media type from the body, the Content-Type or the
// shape of the document, check schemaVersion == 2, then read the descriptors. Every
// descriptor digest goes through digest::Digest::parse, so anything this returns is
// safe to turn into a blob path.
#include "manifest/manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "manifest/json_read.h"
#include "manifest/schema1.h"

namespace ferry::manifest {

namespace {

using detail::child;
using detail::field_fail;
using detail::item;
using detail::Need;
using detail::object;
using detail::printable;
using detail::read_string;

constexpr std::string_view kDoc = "manifest";
constexpr std::array<std::string_view, 2> kGenericContentTypes = {"application/json", "application/octet-stream"};

bool is_known_type(std::string_view type) { return is_index_type(type) || is_image_manifest_type(type); }

// "Application/JSON; charset=utf-8" -> "application/json".
std::string normalize_content_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) {
    content_type.remove_prefix(1);
  }
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) {
    content_type.remove_suffix(1);
  }
  std::string out(content_type);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

tl::unexpected<core::Error> schema1_unsupported(std::string_view why) {
  return core::fail(core::ErrorKind::Unsupported,
                    fmt::format("Docker schema1 manifests are not supported here ({}); ferry pull "
                                "converts one that a tag or digest names, never one inside an index",
                                why));
}

// Schema1 is recognised by `schemaVersion: 1` or by either media type naming it.
core::Status refuse_schema1(const object& root, std::string_view body_type, std::string_view content_type) {
  int64_t version = 0;
  if (detail::read_int(root, "schemaVersion", "", version) && version == 1) {
    return schema1_unsupported("schemaVersion 1");
  }
  if (is_schema1_type(body_type)) return schema1_unsupported(fmt::format("mediaType {}", body_type));
  if (is_schema1_type(content_type)) return schema1_unsupported(fmt::format("Content-Type {}", content_type));
  return {};
}

// No usable media type anywhere: an OCI document may omit it, so its shape decides.
core::Result<std::string> infer_media_type(const object& root) {
  bool has_manifests = detail::find(root, "manifests").has_value();
  bool has_image_parts = detail::find(root, "config") && detail::find(root, "layers");
  if (has_manifests && has_image_parts) {
    return field_fail("", "no mediaType, and the body has both manifests and config/layers");
  }
  if (has_manifests) return std::string(media::kOciIndex);
  if (has_image_parts) return std::string(media::kOciManifest);
  return field_fail("", "no mediaType, and the body is neither an index (manifests) "
                        "nor an image manifest (config, layers)");
}

core::Result<std::string> resolve_media_type(const object& root, std::string_view content_type_header) {
  std::string content_type = normalize_content_type(content_type_header);
  std::string body_type;
  if (auto st = read_string(root, "mediaType", "", Need::kOptional, body_type); !st) {
    return core::fail(std::move(st.error()));
  }
  if (auto st = refuse_schema1(root, body_type, content_type); !st) return core::fail(std::move(st.error()));
  if (!body_type.empty()) {
    if (!is_known_type(body_type)) {
      return field_fail("mediaType", fmt::format("unsupported media type \"{}\"", printable(body_type)),
                        core::ErrorKind::Unsupported);
    }
    if (is_known_type(content_type) && is_index_type(content_type) != is_index_type(body_type)) {
      return field_fail("mediaType", fmt::format("body says {} but Content-Type says {}", body_type, content_type));
    }
    return body_type;
  }
  if (is_known_type(content_type)) return content_type;
  bool generic = content_type.empty() || std::find(kGenericContentTypes.begin(), kGenericContentTypes.end(),
                                                   content_type) != kGenericContentTypes.end();
  if (!generic) {
    return field_fail("", fmt::format("unsupported Content-Type \"{}\" and no mediaType in the body",
                                      printable(content_type)),
                      core::ErrorKind::Unsupported);
  }
  return infer_media_type(root);
}

core::Status check_schema_version(const object& root) {
  int64_t version = 0;
  if (auto st = detail::read_int(root, "schemaVersion", "", version); !st) return st;
  if (version != 2) return field_fail("schemaVersion", fmt::format("want 2, got {}", version));
  return {};
}

core::Status read_platform(const object& obj, std::string_view path, std::optional<Platform>& out) {
  auto value = detail::find(obj, "platform");
  if (!value) return {};
  std::string where = child(path, "platform");
  auto platform = detail::as_object(*value, where);
  if (!platform) return core::fail(std::move(platform.error()));
  Platform p;
  const object& fields = *platform;
  auto st = read_string(fields, "os", where, Need::kRequired, p.os)
                .and_then([&] { return read_string(fields, "architecture", where, Need::kRequired, p.architecture); })
                .and_then([&] { return read_string(fields, "variant", where, Need::kOptional, p.variant); })
                .and_then([&] { return read_string(fields, "os.version", where, Need::kOptional, p.os_version); });
  if (!st) return st;
  // Platform names end up in messages, logs and file names: printable text only.
  for (const std::string* field : {&p.os, &p.architecture, &p.variant, &p.os_version}) {
    for (char c : *field) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return core::fail(core::ErrorKind::InvalidInput,
                          fmt::format("manifest: {}: control character in a platform field", where));
      }
    }
  }
  out = std::move(p);
  return {};
}

core::Result<Descriptor> read_descriptor(const detail::element& value, std::string_view path) {
  auto obj = detail::as_object(value, path);
  if (!obj) return core::fail(std::move(obj.error()));
  Descriptor d;
  auto st = read_string(*obj, "mediaType", path, Need::kRequired, d.media_type)
                .and_then([&] { return detail::read_digest_field(*obj, "digest", path, d.digest); })
                .and_then([&] { return detail::read_size(*obj, "size", path, d.size); })
                .and_then([&] { return read_platform(*obj, path, d.platform); })
                .and_then([&] { return detail::read_string_map(*obj, "annotations", path, d.annotations); })
                .and_then([&] { return detail::read_string_list(*obj, "urls", path, d.urls); });
  if (!st) return core::fail(std::move(st.error()));
  return d;
}

core::Status read_optional_descriptor(const object& root, std::string_view key, std::optional<Descriptor>& out) {
  auto value = detail::find(root, key);
  if (!value) return {};
  auto d = read_descriptor(*value, key);
  if (!d) return core::fail(std::move(d.error()));
  out = std::move(*d);
  return {};
}

core::Status read_descriptor_list(const object& root, std::string_view key, std::vector<Descriptor>& out) {
  auto list = detail::read_array(root, key, "", Need::kRequired);
  if (!list) return core::fail(std::move(list.error()));
  size_t i = 0;
  for (detail::element value : **list) {
    auto d = read_descriptor(value, item(key, i++));
    if (!d) return core::fail(std::move(d.error()));
    out.push_back(std::move(*d));
  }
  return {};
}

core::Result<ImageManifest> read_image_manifest(const object& root, std::string media_type) {
  ImageManifest m;
  m.media_type = std::move(media_type);
  auto config = detail::find(root, "config");
  if (!config) return field_fail("config", "missing");
  auto config_descriptor = read_descriptor(*config, "config");
  if (!config_descriptor) return core::fail(std::move(config_descriptor.error()));
  m.config = std::move(*config_descriptor);
  auto st = read_descriptor_list(root, "layers", m.layers)
                .and_then([&] { return read_optional_descriptor(root, "subject", m.subject); })
                .and_then([&] { return read_string(root, "artifactType", "", Need::kOptional, m.artifact_type); })
                .and_then([&] { return detail::read_string_map(root, "annotations", "", m.annotations); });
  if (!st) return core::fail(std::move(st.error()));
  return m;
}

core::Result<Index> read_index(const object& root, std::string media_type) {
  Index index;
  index.media_type = std::move(media_type);
  auto st = read_descriptor_list(root, "manifests", index.manifests)
                .and_then([&] { return read_optional_descriptor(root, "subject", index.subject); })
                .and_then([&] { return read_string(root, "artifactType", "", Need::kOptional, index.artifact_type); })
                .and_then([&] { return detail::read_string_map(root, "annotations", "", index.annotations); });
  if (!st) return core::fail(std::move(st.error()));
  return index;
}

core::Result<Parsed> read_document(const object& root, std::string_view content_type) {
  auto media_type = resolve_media_type(root, content_type);
  if (!media_type) return core::fail(std::move(media_type.error()));
  if (auto st = check_schema_version(root); !st) return core::fail(std::move(st.error()));
  if (is_index_type(*media_type)) {
    auto index = read_index(root, std::move(*media_type));
    if (!index) return core::fail(std::move(index.error()));
    return Parsed(std::move(*index));
  }
  auto image = read_image_manifest(root, std::move(*media_type));
  if (!image) return core::fail(std::move(image.error()));
  return Parsed(std::move(*image));
}

}  // namespace

std::string accept_header() {
  // Schema1 last: ferry converts it (see schema1.h), and a registry holding only a
  // schema1 manifest serves it whatever the Accept says.
  return fmt::format("{}, {}, {}, {}, {}, {}", media::kOciIndex, media::kOciManifest, media::kDockerList,
                     media::kDockerManifest, media::kDockerSchema1Signed, media::kDockerSchema1);
}

bool is_index_type(std::string_view media_type) {
  return media_type == media::kOciIndex || media_type == media::kDockerList;
}

bool is_image_manifest_type(std::string_view media_type) {
  return media_type == media::kOciManifest || media_type == media::kDockerManifest;
}

core::Result<Parsed> parse(std::string_view body, std::string_view content_type) {
  if (body.size() > kMaxManifestSize) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("manifest: body is {} bytes, over the {} byte limit", body.size(),
                                  kMaxManifestSize));
  }
  simdjson::padded_string text(body);
  simdjson::dom::parser parser;  // the DOM below borrows from it: keep it alive
  auto root = detail::parse_root(parser, text);
  if (!root) return detail::in_doc(kDoc, std::move(root.error()));
  auto parsed = read_document(*root, content_type);
  if (!parsed) return detail::in_doc(kDoc, std::move(parsed.error()));
  return parsed;
}

bool is_foreign_layer(const Descriptor& layer) {
  return layer.media_type == media::kDockerForeignLayerGzip ||
         layer.media_type.find(".nondistributable.") != std::string::npos;
}

}  // namespace ferry::manifest

// Schema1 to schema2: the image config built from the v1Compatibility entries, and
// the schema2 manifest naming it (the conversion containers/image and docker pull do).
//
// Output is deterministic: keys sorted by byte value, compact, values of the kept
// fields re-serialised by simdjson's minifier, strings escaped by one rule (quote,
// backslash and control bytes; UTF-8 passes through). The same schema1 manifest and
// layers give the same config and manifest bytes, hence the same digests, every run.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

#include "manifest/json_read.h"
#include "manifest/schema1.h"

namespace ferry::manifest {

namespace {

// Fields of a v1 image JSON that mean nothing in a schema2 config (v1 ids and
// chain, the v1 size, the throwaway marker); the rest is kept as it is.
constexpr std::array<std::string_view, 6> kV1OnlyFields = {"id", "parent", "parent_id", "layer_id", "throwaway", "Size"};

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string history_json(const Schema1& m) {
  std::string out = "[";
  for (size_t k = m.compat.size(); k-- > 0;) {
    const V1Compatibility& v = m.compat[k];
    // Keys in sorted order, empty ones left out (as Go's omitempty would).
    std::vector<std::pair<std::string_view, std::string>> fields;
    if (!v.author.empty()) fields.emplace_back("author", quote(v.author));
    if (!v.comment.empty()) fields.emplace_back("comment", quote(v.comment));
    if (!v.created.empty()) fields.emplace_back("created", quote(v.created));
    if (!v.created_by.empty()) fields.emplace_back("created_by", quote(v.created_by));
    if (v.throwaway) fields.emplace_back("empty_layer", "true");
    out += out.size() > 1 ? ",{" : "{";
    for (size_t f = 0; f < fields.size(); ++f) {
      out += fmt::format("{}{}:{}", f ? "," : "", quote(fields[f].first), fields[f].second);
    }
    out += "}";
  }
  return out + "]";
}

std::string rootfs_json(const std::vector<digest::Digest>& diff_ids) {
  std::string out = R"({"diff_ids":[)";
  for (size_t k = 0; k < diff_ids.size(); ++k) {
    if (k) out += ',';
    out += quote(diff_ids[k].str());
  }
  return out + R"(],"type":"layers"})";
}

std::string descriptor_json(const Descriptor& d) {
  return fmt::format(R"({{"mediaType":{},"size":{},"digest":{}}})", quote(d.media_type), d.size, quote(d.digest.str()));
}

}  // namespace

core::Result<std::string> schema1_config(const Schema1& m, const std::vector<digest::Digest>& diff_ids) {
  if (m.history.empty()) return core::fail(core::ErrorKind::InvalidInput, "schema1 manifest: no history");
  if (diff_ids.size() != schema1_layers(m).size()) {
    return core::fail(core::ErrorKind::Internal,
                      fmt::format("schema1 conversion: {} diff_ids for {} layers", diff_ids.size(),
                                  schema1_layers(m).size()));
  }
  simdjson::padded_string text(m.history.front());
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return detail::in_doc("schema1 manifest: history[0].v1Compatibility", std::move(root.error()));
  std::vector<std::pair<std::string, std::string>> fields;  // key (unescaped), JSON value
  for (auto field : *root) {
    const std::string_view key = field.key;
    if (std::find(kV1OnlyFields.begin(), kV1OnlyFields.end(), key) != kV1OnlyFields.end()) continue;
    if (key == "rootfs" || key == "history") continue;  // rebuilt below
    // Written from m.platform below: the values parse_schema1 validated and the
    // index.json descriptor carries (a null or empty one here was defaulted there).
    if (key == "os" || key == "architecture" || key == "variant") continue;
    fields.emplace_back(std::string(key), simdjson::to_string(field.value));
  }
  fields.emplace_back("os", quote(m.platform.os));
  fields.emplace_back("architecture", quote(m.platform.architecture));
  if (!m.platform.variant.empty()) fields.emplace_back("variant", quote(m.platform.variant));
  fields.emplace_back("rootfs", rootfs_json(diff_ids));
  fields.emplace_back("history", history_json(m));
  std::sort(fields.begin(), fields.end());
  std::string out = "{";
  for (size_t k = 0; k < fields.size(); ++k) {
    out += fmt::format("{}{}:{}", k ? "," : "", quote(fields[k].first), fields[k].second);
  }
  out += "}";
  // The fields copied from v1Compatibility must make a config every reader (ferry's
  // own included) accepts: a wrongly typed one ("os.version": true) is named here,
  // not later as a broken image.
  if (auto back = parse_config(out); !back) {
    return core::fail(core::ErrorKind::InvalidInput,
                      "schema1 manifest: history[0].v1Compatibility does not make an image config: " +
                          back.error().message);
  }
  return out;
}

std::string schema2_manifest(const Descriptor& config, const std::vector<Descriptor>& layers) {
  std::string out = fmt::format(R"({{"schemaVersion":2,"mediaType":{},"config":{},"layers":[)",
                                quote(media::kDockerManifest), descriptor_json(config));
  for (size_t k = 0; k < layers.size(); ++k) {
    if (k) out += ',';
    out += descriptor_json(layers[k]);
  }
  return out + "]}";
}

}  // namespace ferry::manifest

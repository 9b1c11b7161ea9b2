// Schema1: the JWS payload that the digest covers, and the manifest read from it.
//
// The signed body is parsed only to find the signatures' protected headers; the
// manifest itself is always read from the payload, the bytes the digest covers, so
// nothing outside them (a second copy of a field after the payload, say) can change
// what ferry sees.
#include "manifest/schema1.h"

#include <fmt/format.h>

#include <array>
#include <optional>

#include "manifest/json_read.h"

namespace ferry::manifest {

namespace {

using detail::field_fail;
using detail::Need;
using detail::object;
using detail::read_string;

constexpr std::string_view kDoc = "schema1 manifest";
constexpr size_t kMaxProtectedHeader = 64 << 10;  // a JSON object of a few fields

constexpr std::array<uint8_t, 256> make_base64url_table() {
  std::array<uint8_t, 256> t{};
  t.fill(0xff);
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  return t;
}
constexpr auto kBase64Url = make_base64url_table();

// RFC 4648 §5 base64url; JWS leaves the padding out, but tolerate it at the end.
std::optional<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    uint8_t v = kBase64Url[static_cast<unsigned char>(c)];
    if (v == 0xff) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

tl::unexpected<core::Error> fail_doc(std::string_view path, std::string_view problem) {
  return detail::in_doc(kDoc, field_fail(path, problem).value());
}

struct PayloadFormat {
  int64_t length = 0;
  std::string tail;  // decoded
  friend bool operator==(const PayloadFormat&, const PayloadFormat&) = default;
};

// signatures[k].protected: base64url JSON with formatLength and formatTail.
core::Result<PayloadFormat> read_protected(const detail::element& signature, const std::string& where) {
  auto sig = detail::as_object(signature, where);
  if (!sig) return core::fail(std::move(sig.error()));
  std::string encoded;
  if (auto st = read_string(*sig, "protected", where, Need::kRequired, encoded); !st) return core::fail(st.error());
  const std::string path = detail::child(where, "protected");
  if (encoded.size() > kMaxProtectedHeader) return field_fail(path, "longer than 64 KiB");
  auto header = base64url_decode(encoded);
  if (!header) return field_fail(path, "not base64url");
  simdjson::padded_string text(*header);
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return field_fail(path, root.error().message);
  PayloadFormat f;
  std::string tail;
  auto st = detail::read_int(*root, "formatLength", path, f.length).and_then([&] {
    return read_string(*root, "formatTail", path, Need::kRequired, tail);
  });
  if (!st) return core::fail(st.error());
  auto decoded = base64url_decode(tail);
  if (!decoded) return field_fail(detail::child(path, "formatTail"), "not base64url");
  f.tail = std::move(*decoded);
  return f;
}

// The format every signature agrees on; nullopt when the body has no signatures.
core::Result<std::optional<PayloadFormat>> payload_format(const object& root) {
  auto list = detail::read_array(root, "signatures", "", Need::kOptional);
  if (!list) return core::fail(std::move(list.error()));
  if (!*list) return std::optional<PayloadFormat>();
  std::optional<PayloadFormat> agreed;
  size_t k = 0;
  for (detail::element sig : **list) {
    if (k >= kMaxSchema1Signatures) return field_fail("signatures", "more than 64 signatures");
    const std::string where = detail::item("signatures", k);
    auto f = read_protected(sig, where);
    if (!f) return core::fail(std::move(f.error()));
    if (agreed && !(*f == *agreed)) {
      return field_fail(where, "formatLength/formatTail differ from signatures[0]: the signatures "
                               "cover different payloads");
    }
    agreed = std::move(*f);
    ++k;
  }
  if (!agreed) return field_fail("signatures", "empty: a signed manifest needs at least one");
  return agreed;
}

bool is_other_known_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  return is_index_type(content_type) || is_image_manifest_type(content_type);
}

// container_config.Cmd joined with spaces (a null or absent Cmd is empty).
core::Status read_created_by(const object& v1, const std::string& path, std::string& out) {
  auto cc = detail::find(v1, "container_config");
  if (!cc) return {};
  const std::string where = detail::child(path, "container_config");
  auto obj = detail::as_object(*cc, where);
  if (!obj) return core::fail(std::move(obj.error()));
  std::vector<std::string> cmd;
  if (auto st = detail::read_string_list(*obj, "Cmd", where, cmd); !st) return st;
  for (const auto& part : cmd) out += (out.empty() ? "" : " ") + part;
  return {};
}

core::Status read_bool(const object& obj, std::string_view key, const std::string& path, bool& out) {
  auto value = detail::find(obj, key);
  if (!value) return {};
  if (value->get(out)) return field_fail(detail::child(path, key), "want a boolean");
  return {};
}

core::Result<V1Compatibility> read_v1(std::string_view json, const std::string& path, Platform* platform) {
  if (json.size() > kMaxV1Compatibility) return field_fail(path, "longer than 1 MiB");
  simdjson::padded_string text(json);
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return field_fail(path, root.error().message);
  V1Compatibility v;
  const object& o = *root;
  auto st = read_string(o, "id", path, Need::kOptional, v.id)
                .and_then([&] { return read_string(o, "parent", path, Need::kOptional, v.parent); })
                .and_then([&] { return read_string(o, "created", path, Need::kOptional, v.created); })
                .and_then([&] { return read_string(o, "author", path, Need::kOptional, v.author); })
                .and_then([&] { return read_string(o, "comment", path, Need::kOptional, v.comment); })
                .and_then([&] { return read_bool(o, "throwaway", path, v.throwaway); })
                .and_then([&] { return read_created_by(o, path, v.created_by); });
  if (st && platform) {
    st = read_string(o, "os", path, Need::kOptional, platform->os)
             .and_then([&] { return read_string(o, "architecture", path, Need::kOptional, platform->architecture); })
             .and_then([&] { return read_string(o, "variant", path, Need::kOptional, platform->variant); });
  }
  if (!st) return core::fail(st.error());
  return v;
}

core::Status read_layers_and_history(const object& root, Schema1& m) {
  auto layers = detail::read_array(root, "fsLayers", "", Need::kRequired);
  if (!layers) return core::fail(std::move(layers.error()));
  auto history = detail::read_array(root, "history", "", Need::kRequired);
  if (!history) return core::fail(std::move(history.error()));
  const size_t n = (**layers).size(), h = (**history).size();
  if (n == 0) return field_fail("fsLayers", "empty");
  if (n > kMaxSchema1Layers) return field_fail("fsLayers", fmt::format("{} entries, over the limit of {}", n, kMaxSchema1Layers));
  if (n != h) return field_fail("history", fmt::format("{} entries but fsLayers has {}", h, n));
  size_t k = 0;
  for (detail::element e : **layers) {
    const std::string where = detail::item("fsLayers", k++);
    auto obj = detail::as_object(e, where);
    if (!obj) return core::fail(std::move(obj.error()));
    digest::Digest d;
    if (auto st = detail::read_digest_field(*obj, "blobSum", where, d); !st) return st;
    m.fs_layers.push_back(std::move(d));
  }
  k = 0;
  for (detail::element e : **history) {
    const std::string where = detail::item("history", k);
    auto obj = detail::as_object(e, where);
    if (!obj) return core::fail(std::move(obj.error()));
    std::string v1;
    if (auto st = read_string(*obj, "v1Compatibility", where, Need::kRequired, v1); !st) return st;
    auto parsed = read_v1(v1, detail::child(where, "v1Compatibility"), k == 0 ? &m.platform : nullptr);
    if (!parsed) return core::fail(std::move(parsed.error()));
    m.history.push_back(std::move(v1));
    m.compat.push_back(std::move(*parsed));
    ++k;
  }
  return {};
}

// docker pull's rule (containers/image fixManifestLayers): an entry whose v1 id equals
// the next (older) one's is a duplicate of it; keep the older one.
void fold_repeated_ids(Schema1& m) {
  for (size_t k = m.compat.size() - 1; k-- > 0;) {
    if (m.compat[k].id.empty() || m.compat[k].id != m.compat[k + 1].id) continue;
    m.fs_layers.erase(m.fs_layers.begin() + static_cast<std::ptrdiff_t>(k));
    m.history.erase(m.history.begin() + static_cast<std::ptrdiff_t>(k));
    m.compat.erase(m.compat.begin() + static_cast<std::ptrdiff_t>(k));
  }
}

}  // namespace

bool is_schema1_type(std::string_view media_type) {
  media_type = media_type.substr(0, media_type.find(';'));
  while (!media_type.empty() && media_type.back() == ' ') media_type.remove_suffix(1);
  return media_type == media::kDockerSchema1 || media_type == media::kDockerSchema1Signed;
}

bool is_schema1(std::string_view body, std::string_view content_type) {
  if (is_schema1_type(content_type)) return true;
  if (is_other_known_type(content_type) || body.size() > kMaxManifestSize) return false;
  simdjson::padded_string text(body);
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return false;
  int64_t version = 0;
  return detail::read_int(*root, "schemaVersion", "", version) && version == 1;
}

core::Result<std::string> schema1_payload(std::string_view body) {
  if (body.size() > kMaxManifestSize) {
    return fail_doc("", fmt::format("body is {} bytes, over the {} byte limit", body.size(), kMaxManifestSize));
  }
  simdjson::padded_string text(body);
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return detail::in_doc(kDoc, std::move(root.error()));
  auto format = payload_format(*root);
  if (!format) return detail::in_doc(kDoc, std::move(format.error()));
  if (!*format) return std::string(body);  // unsigned: the body is the payload
  const auto& f = **format;
  if (f.length < 0 || static_cast<uint64_t>(f.length) > body.size()) {
    return fail_doc("signatures[0].protected.formatLength",
                    fmt::format("{} is outside the {}-byte body", f.length, body.size()));
  }
  std::string payload(body.substr(0, static_cast<size_t>(f.length)));
  payload += f.tail;
  return payload;
}

core::Result<digest::Digest> manifest_digest(std::string_view body, std::string_view content_type) {
  if (!is_schema1(body, content_type)) return digest::sha256_of(body);
  auto payload = schema1_payload(body);
  if (!payload) return core::fail(std::move(payload.error()));
  return digest::sha256_of(*payload);
}

core::Result<Schema1> parse_schema1(std::string_view payload) {
  if (payload.size() > kMaxManifestSize) {
    return fail_doc("", fmt::format("payload is {} bytes, over the {} byte limit", payload.size(), kMaxManifestSize));
  }
  simdjson::padded_string text(payload);
  simdjson::dom::parser parser;
  auto root = detail::parse_root(parser, text);
  if (!root) return detail::in_doc(kDoc, std::move(root.error()));
  Schema1 m;
  int64_t version = 0;
  auto st = detail::read_int(*root, "schemaVersion", "", version).and_then([&]() -> core::Status {
    if (version != 1) return field_fail("schemaVersion", fmt::format("want 1, got {}", version));
    return read_string(*root, "name", "", Need::kOptional, m.name)
        .and_then([&] { return read_string(*root, "tag", "", Need::kOptional, m.tag); })
        .and_then([&] { return read_string(*root, "architecture", "", Need::kOptional, m.architecture); })
        .and_then([&] { return read_layers_and_history(*root, m); });
  });
  if (!st) return detail::in_doc(kDoc, std::move(st.error()));
  if (m.platform.os.empty()) m.platform.os = "linux";  // docker's v1 images predate the field
  if (m.platform.architecture.empty()) m.platform.architecture = m.architecture;
  for (const std::string* field : {&m.platform.os, &m.platform.architecture, &m.platform.variant}) {
    for (char c : *field) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '/') {
        return fail_doc("history[0].v1Compatibility", "control character or '/' in os/architecture/variant");
      }
    }
  }
  if (m.platform.architecture.empty()) return fail_doc("architecture", "missing, here and in history[0]");
  fold_repeated_ids(m);
  return m;
}

std::vector<digest::Digest> schema1_layers(const Schema1& m) {
  std::vector<digest::Digest> out;
  for (size_t k = m.fs_layers.size(); k-- > 0;) {
    if (!m.compat[k].throwaway) out.push_back(m.fs_layers[k]);
  }
  return out;
}

}  // namespace ferry::manifest

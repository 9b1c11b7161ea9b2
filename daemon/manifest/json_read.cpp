// Typed, path-naming field readers over the simdjson DOM (see json_read.h).
//
// Every reader checks the JSON type before reading, so a size given as a string, a
// digest given as a number or an annotation given as an object fails with the
// field's path instead of being coerced.
#include "manifest/json_read.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "manifest/manifest.h"

namespace ferry::manifest::detail {

namespace {

using simdjson::dom::element_type;

std::string_view type_name(element_type type) {
  switch (type) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

tl::unexpected<core::Error> wrong_type(std::string_view path, std::string_view want, const element& value) {
  return field_fail(path, fmt::format("want {}, got {}", want, type_name(value.type())));
}

tl::unexpected<core::Error> missing(std::string_view path) { return field_fail(path, "missing"); }

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (text.size() > 100) out += "...";
  return out;
}

std::string child(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

std::string item(std::string_view path, size_t index) { return fmt::format("{}[{}]", path, index); }

tl::unexpected<core::Error> field_fail(std::string_view path, std::string_view problem, core::ErrorKind kind) {
  if (path.empty()) return core::fail(kind, std::string(problem));
  return core::fail(kind, fmt::format("{}: {}", path, problem));
}

tl::unexpected<core::Error> in_doc(std::string_view doc, core::Error error) {
  error.context(doc);
  return core::fail(std::move(error));
}

core::Result<object> parse_root(simdjson::dom::parser& parser, const simdjson::padded_string& text) {
  // Capacity at least 1: simdjson refuses to allocate 0 bytes, and an empty body
  // should fail as "not JSON", not as an allocation error.
  if (auto err = parser.allocate(std::max<size_t>(text.size(), 1), kMaxDepth); err) {
    return core::fail(core::ErrorKind::Internal,
                      fmt::format("json parser allocation failed: {}", simdjson::error_message(err)));
  }
  element root;
  auto err = parser.parse(text).get(root);
  if (err == simdjson::DEPTH_ERROR) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("nested deeper than {} levels", kMaxDepth));
  }
  if (err) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("not valid JSON: {}", simdjson::error_message(err)));
  }
  if (root.type() != element_type::OBJECT) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("top level is a JSON {}, want an object", type_name(root.type())));
  }
  return as_object(root, "");
}

core::Result<object> as_object(const element& value, std::string_view path) {
  object obj;
  if (value.get(obj)) return wrong_type(path, "an object", value);
  std::vector<std::string_view> keys;
  for (auto field : obj) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup != keys.end()) return field_fail(child(path, printable(*dup)), "duplicate key");
  return obj;
}

std::optional<element> find(const object& obj, std::string_view key) {
  element value;
  if (obj.at_key(key).get(value)) return std::nullopt;
  if (value.is_null()) return std::nullopt;
  return value;
}

core::Status read_string(const object& obj, std::string_view key, std::string_view path, Need need,
                         std::string& out) {
  std::string where = child(path, key);
  auto value = find(obj, key);
  if (!value) {
    if (need == Need::kRequired) return missing(where);
    return {};
  }
  std::string_view text;
  if (value->get(text)) return wrong_type(where, "a string", *value);
  out.assign(text);
  return {};
}

core::Status read_int(const object& obj, std::string_view key, std::string_view path, int64_t& out) {
  std::string where = child(path, key);
  auto value = find(obj, key);
  if (!value) return missing(where);
  switch (value->type()) {
    case element_type::INT64:
      if (value->get(out)) return wrong_type(where, "an integer", *value);
      return {};
    case element_type::UINT64:
      return field_fail(where, "integer out of range");
    case element_type::DOUBLE:
      return field_fail(where, fmt::format("want an integer, got {}", double(value->get_double().value_unsafe())));
    default:
      return wrong_type(where, "an integer", *value);
  }
}

core::Status read_size(const object& obj, std::string_view key, std::string_view path, int64_t& out) {
  int64_t size = 0;
  if (auto st = read_int(obj, key, path, size); !st) return st;
  if (size < 0) return field_fail(child(path, key), fmt::format("negative size {}", size));
  out = size;
  return {};
}

core::Status read_digest(const element& value, std::string_view path, digest::Digest& out) {
  std::string_view text;
  if (value.get(text)) return wrong_type(path, "a digest string", value);
  auto parsed = digest::Digest::parse(text);
  if (!parsed) return field_fail(path, parsed.error().message, parsed.error().kind);
  out = std::move(*parsed);
  return {};
}

core::Status read_digest_field(const object& obj, std::string_view key, std::string_view path,
                               digest::Digest& out) {
  std::string where = child(path, key);
  auto value = find(obj, key);
  if (!value) return missing(where);
  return read_digest(*value, where, out);
}

core::Status read_string_map(const object& obj, std::string_view key, std::string_view path,
                             std::map<std::string, std::string>& out) {
  std::string where = child(path, key);
  auto value = find(obj, key);
  if (!value) return {};
  auto map = as_object(*value, where);
  if (!map) return core::fail(std::move(map.error()));
  for (auto field : *map) {
    std::string_view text;
    if (field.value.get(text)) return wrong_type(child(where, printable(field.key)), "a string", field.value);
    out.emplace(std::string(field.key), std::string(text));
  }
  return {};
}

core::Status read_string_list(const object& obj, std::string_view key, std::string_view path,
                              std::vector<std::string>& out) {
  auto list = read_array(obj, key, path, Need::kOptional);
  if (!list) return core::fail(std::move(list.error()));
  if (!*list) return {};
  std::string where = child(path, key);
  size_t i = 0;
  for (element value : **list) {
    std::string_view text;
    if (value.get(text)) return wrong_type(item(where, i), "a string", value);
    out.emplace_back(text);
    ++i;
  }
  return {};
}

core::Result<std::optional<array>> read_array(const object& obj, std::string_view key, std::string_view path,
                                              Need need) {
  std::string where = child(path, key);
  auto value = find(obj, key);
  if (!value) {
    if (need == Need::kRequired) return missing(where);
    return std::optional<array>();
  }
  array list;
  if (value->get(list)) return wrong_type(where, "an array", *value);
  return std::optional<array>(list);
}

}  // namespace ferry::manifest::detail

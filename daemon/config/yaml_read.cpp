// Typed reads from yaml-cpp nodes: strings, bounded integers, booleans, paths and
// platform lists, and mappings checked against their allowed keys. Values are read
// from the scalar text as written (quoted or not), so `schedule: 02:00` and
// `tags: [1.20]` keep their text instead of YAML 1.1's number readings. Nothing here
// calls a throwing yaml-cpp conversion.
#include "config/yaml_read.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace ferry::config::detail {

namespace {

constexpr size_t kEchoMaxLength = 100;

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

// The scalar text of a field, or an error "KEY: must be WANT, got TYPE".
core::Result<std::string> scalar_text(const Source& source, const Field& field, std::string_view want) {
  if (!field.value.IsScalar()) {
    return fail_at(source, field.mark(),
                   fmt::format("{}: must be {}, got {}", field.key, want, type_name(field.value)));
  }
  return field.value.Scalar();
}

}  // namespace

std::string echo(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (out.size() == kEchoMaxLength) {
      out += "...";
      break;
    }
    out.push_back(u < 0x80 ? c : '?');
  }
  return out;
}

std::string_view type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "a string";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "nothing";
}

core::Error error_at(const Source& source, const YAML::Mark& mark, std::string_view message) {
  int line = mark.is_null() ? 1 : mark.line + 1;
  int column = mark.is_null() ? 1 : mark.column + 1;
  return core::error(core::ErrorKind::InvalidInput,
                     fmt::format("{}:{}:{}: {}", source.origin, line, column, message));
}

tl::unexpected<core::Error> fail_at(const Source& source, const YAML::Mark& mark, std::string_view message) {
  return core::fail(error_at(source, mark, message));
}

YAML::Mark Field::mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }

const Field* Fields::find(std::string_view key) const {
  auto it = std::find_if(fields_.begin(), fields_.end(), [&](const Field& f) { return f.key == key; });
  return it == fields_.end() ? nullptr : &*it;
}

core::Result<Fields> read_fields(const Source& source, const YAML::Node& map, std::string_view what,
                                 std::initializer_list<std::string_view> allowed) {
  if (map.IsNull()) return Fields{};
  if (!map.IsMap()) {
    return fail_at(source, map.Mark(), fmt::format("{} must be a mapping, got {}", what, type_name(map)));
  }
  std::vector<Field> fields;
  // key -> index in fields: a mapping may have many keys (registries), so no linear
  // search per key (200k keys took minutes).
  std::unordered_map<std::string, size_t> seen;
  for (const auto& kv : map) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      return fail_at(source, key.Mark(), fmt::format("{}: keys must be strings, got {}", what, type_name(key)));
    }
    const std::string& name = key.Scalar();
    if (auto first = seen.find(name); first != seen.end()) {
      return fail_at(source, key.Mark(),
                     fmt::format("duplicate key \"{}\" in {} (first on line {})", echo(name), what,
                                 fields[first->second].key_node.Mark().line + 1));
    }
    bool known = allowed.size() == 0 || std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    if (!known) {
      return fail_at(source, key.Mark(),
                     fmt::format("unknown key \"{}\" in {} (expected {})", echo(name), what, join(allowed)));
    }
    seen.emplace(name, fields.size());
    fields.push_back(Field{name, key, kv.second});
  }
  return Fields(std::move(fields));
}

core::Result<std::string> read_string(const Source& source, const Field& field) {
  auto text = scalar_text(source, field, "a string");
  if (!text) return text;
  if (text->empty()) return fail_at(source, field.mark(), fmt::format("{}: must not be empty", field.key));
  return text;
}

core::Result<int> read_int(const Source& source, const Field& field, int min, int max) {
  std::string want = fmt::format("an integer between {} and {}", min, max);
  auto text = scalar_text(source, field, want);
  if (!text) return core::fail(text.error());
  int value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  bool digits_only = !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!digits_only || ec != std::errc() || ptr != end || value < min || value > max) {
    return fail_at(source, field.mark(), fmt::format("{}: must be {}, got \"{}\"", field.key, want, echo(*text)));
  }
  return value;
}

core::Result<bool> read_bool(const Source& source, const Field& field) {
  auto text = scalar_text(source, field, "true or false");
  if (!text) return core::fail(text.error());
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  return fail_at(source, field.mark(), fmt::format("{}: must be true or false, got \"{}\"", field.key, echo(*text)));
}

core::Result<std::string> read_path(const Source& source, const Field& field) {
  auto text = read_string(source, field);
  if (!text) return text;
  std::filesystem::path p(*text);
  if (p.is_relative()) p = source.base_dir / p;
  return p.lexically_normal().string();
}

core::Result<std::vector<manifest::Platform>> read_platforms(const Source& source, const Field& field) {
  const YAML::Node& list = field.value;
  if (!list.IsSequence()) {
    return fail_at(source, field.mark(),
                   fmt::format("{}: must be a list of os/arch[/variant], e.g. [linux/amd64], got {}", field.key,
                               type_name(list)));
  }
  if (list.size() == 0) {
    return fail_at(source, field.mark(), fmt::format("{}: must list at least one platform", field.key));
  }
  std::vector<manifest::Platform> out;
  for (const YAML::Node& item : list) {
    Field element{field.key, field.key_node, item};
    auto text = scalar_text(source, element, "os/arch[/variant] strings");
    if (!text) return core::fail(text.error());
    auto platform = manifest::parse_platform(*text);
    if (!platform) {
      return fail_at(source, item.Mark(), fmt::format("{}: {}", field.key, platform.error().message));
    }
    if (std::find(out.begin(), out.end(), *platform) != out.end()) {
      return fail_at(source, item.Mark(), fmt::format("{}: {} listed twice", field.key, platform->str()));
    }
    out.push_back(*platform);
  }
  return out;
}

}  // namespace ferry::config::detail

// Reading typed values out of yaml-cpp nodes, with errors that point into the file.
//
// Internal to the config module (the only place yaml-cpp is used). A Source names the
// text being read and the directory relative paths are resolved against; every
// error is one line `origin:line:column: message` at the mark of the node at fault.
// Mappings are read into Fields, which refuses non-string keys, duplicate keys and
// keys outside the allowed set, so a typo is never silently ignored.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "manifest/manifest.h"

namespace ferry::config::detail {

struct Source {
  std::string origin;               // file name for messages
  std::filesystem::path base_dir;   // absolute
};

// Text from the file made safe for a one-line message: control bytes dropped,
// non-ASCII shown as '?', at most 100 bytes.
std::string echo(std::string_view text);

// "a string", "a list", "a mapping", "nothing".
std::string_view type_name(const YAML::Node& node);

// An InvalidInput error "origin:line:col: message"; a null mark reads as 1:1.
core::Error error_at(const Source& source, const YAML::Mark& mark, std::string_view message);
tl::unexpected<core::Error> fail_at(const Source& source, const YAML::Mark& mark, std::string_view message);

// One `key: value` of a mapping.
struct Field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;

  // Where an error about the value points: the value, or the key when the value is
  // empty (yaml-cpp marks an empty value at the start of the next line).
  YAML::Mark mark() const;
};

class Fields {
 public:
  Fields() = default;
  explicit Fields(std::vector<Field> fields) : fields_(std::move(fields)) {}

  const Field* find(std::string_view key) const;
  const std::vector<Field>& all() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

// The fields of `map`, in file order. `what` names the mapping in messages ("image
// entry", "registry \"docker.io\""); an empty `allowed` accepts any key. Errors:
// not a mapping, a key that is not a string, a duplicate key, an unknown key
// (`unknown key "x" in WHAT (expected a, b, c)`).
core::Result<Fields> read_fields(const Source& source, const YAML::Node& map, std::string_view what,
                                 std::initializer_list<std::string_view> allowed);

// A non-empty string scalar (numbers and booleans are read as written).
core::Result<std::string> read_string(const Source& source, const Field& field);

// A decimal integer in [min, max].
core::Result<int> read_int(const Source& source, const Field& field, int min, int max);

// true or false (also True/TRUE/False/FALSE).
core::Result<bool> read_bool(const Source& source, const Field& field);

// A non-empty path, made absolute against source.base_dir and normalised.
core::Result<std::string> read_path(const Source& source, const Field& field);

// A non-empty list of distinct "os/arch[/variant]" strings.
core::Result<std::vector<manifest::Platform>> read_platforms(const Source& source, const Field& field);

}  // namespace ferry::config::detail

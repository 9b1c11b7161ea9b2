// Internal to the manifest module: typed field access over a simdjson DOM.
//
// The manifest and config parsers read every field through these helpers so that
// type checks, digest validation and error wording live in one place. Errors name
// the field by its JSON path ("layers[2].digest: ...") and are one line; the caller
// prefixes the document ("manifest: ", "config: "). Values copied from the input
// into messages are capped and stripped of control bytes. Optional fields that are
// absent or `null` are left at their default. This header is not part of the
// module's contract: only manifest/*.cpp include it.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::manifest::detail {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

enum class Need { kRequired, kOptional };

// Input text made safe for a one-line message: at most 100 bytes, no control bytes.
std::string printable(std::string_view text);

// "path.key" (or "key" at the top level) and "path[i]".
std::string child(std::string_view path, std::string_view key);
std::string item(std::string_view path, size_t index);

// "path: problem" (just "problem" when path is empty).
tl::unexpected<core::Error> field_fail(std::string_view path, std::string_view problem,
                                       core::ErrorKind kind = core::ErrorKind::InvalidInput);

// Prefix `doc` ("manifest") to an error from the helpers below.
tl::unexpected<core::Error> in_doc(std::string_view doc, core::Error error);

// Parse `text` with `parser` (its max depth set to kMaxDepth); the root must be an
// object whose keys are unique. `parser` must outlive the returned object.
core::Result<object> parse_root(simdjson::dom::parser& parser, const simdjson::padded_string& text);

// `value` as an object with unique keys (a duplicate key is how two parsers can be
// made to see two different manifests in one body).
core::Result<object> as_object(const element& value, std::string_view path);

// The value at `key`, or nullopt when absent or null.
std::optional<element> find(const object& obj, std::string_view key);

core::Status read_string(const object& obj, std::string_view key, std::string_view path, Need need,
                         std::string& out);
core::Status read_int(const object& obj, std::string_view key, std::string_view path, int64_t& out);
// A descriptor size: an integer in [0, INT64_MAX].
core::Status read_size(const object& obj, std::string_view key, std::string_view path, int64_t& out);
core::Status read_digest(const element& value, std::string_view path, digest::Digest& out);
core::Status read_digest_field(const object& obj, std::string_view key, std::string_view path,
                               digest::Digest& out);
core::Status read_string_map(const object& obj, std::string_view key, std::string_view path,
                             std::map<std::string, std::string>& out);
core::Status read_string_list(const object& obj, std::string_view key, std::string_view path,
                              std::vector<std::string>& out);
// The array at `key`; absent or null is an error when required, else an empty result.
core::Result<std::optional<array>> read_array(const object& obj, std::string_view key,
                                              std::string_view path, Need need);

}  // namespace ferry::manifest::detail

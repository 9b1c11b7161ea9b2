// One YAML document out of a watchlist text, without yaml-cpp's LoadAll.
//
// Internal to the config module. yaml-cpp 0.7's parser, handed a token that cannot
// start a node at the top of a document (`,` `]` `}`, as in ",a:\n - b\n"), reports a
// null document without consuming the token, so every later call reports the same
// null document again: YAML::LoadAll never returns and grows its vector until the
// process runs out of memory (upstream jbeder/yaml-cpp#1040). load_document() first
// walks the parser's events for at most kMaxScoutDocuments documents, which finds
// such a token (a document starting where the one before started) and a second
// document, and only then builds the tree with YAML::Load.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>

#include "config/yaml_read.h"
#include "core/error.h"

namespace ferry::config::detail {

// The only document of `yaml`. Errors (`origin:line:column: message`): no document,
// a token where no value may start, more than one document, and every yaml-cpp
// exception (malformed YAML, nesting too deep). Never throws.
core::Result<YAML::Node> load_document(const Source& source, std::string_view yaml);

// A yaml-cpp exception as an error at its mark (DeepRecursion: "nested too many levels deep").
core::Error error_from(const Source& source, const YAML::Exception& e);

}  // namespace ferry::config::detail

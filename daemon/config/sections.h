// The two structured sections of a watchlist, `images` and `registries`, each read
// from its top-level field. Internal to the config module.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_read.h"

namespace ferry::config::detail {

// `images`: a list whose items are references or mappings {name, tags, platforms,
// all_platforms}; tags expanded to one entry each; duplicates refused.
core::Result<std::vector<ImageEntry>> read_images(const Source& source, const Field& images);

// `retry`: {max_attempts, deadline}; inside a registry (`registry_level`) only
// max_attempts, since a deadline bounds the whole run.
core::Result<RetrySettings> read_retry(const Source& source, const Field& retry, bool registry_level);

// `registries`: host -> {insecure, ca_file, credentials, concurrency, retry}; hosts
// normalised (normalize_host), two keys naming one registry refused.
core::Result<std::map<std::string, RegistrySettings>> read_registries(const Source& source, const Field& registries);

// `mirror_to`: {registry: host[:port], prefix: path}; both checked against the
// reference grammar.
core::Result<MirrorTarget> read_mirror_to(const Source& source, const Field& mirror_to);

}  // namespace ferry::config::detail

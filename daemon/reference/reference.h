// Reference: an image name as people type it, parsed and normalised.
//
// Grammar of the distribution project's `reference` package:
//   [domain[:port]/]path[:tag][@digest]
// `ubuntu` becomes docker.io/library/ubuntu:latest. The first path component is a
// domain when it contains '.' or ':' or is exactly `localhost` (otherwise it is part
// of the repository on docker.io). Repository components are lowercase
// [a-z0-9]+ joined by separators ('.', '_', '__', one or more '-'), total name at
// most 255 characters; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest must be
// a valid Digest. A reference with a digest and no tag stays digest-only (no
// `latest` is added); with both, the digest pins the tag.
// Plain values: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::reference {

inline constexpr std::string_view kDockerHubDomain = "docker.io";
// Where docker.io's API actually lives.
inline constexpr std::string_view kDockerHubApiHost = "registry-1.docker.io";
// Longest normalised name (domain + '/' + repository) the grammar allows.
inline constexpr size_t kNameMaxLength = 255;
// Longest tag the grammar allows.
inline constexpr size_t kTagMaxLength = 128;

struct Reference {
  std::string domain;       // "docker.io", "ghcr.io", "127.0.0.1:5000", "localhost"
  std::string repository;   // "library/ubuntu", "ns/app"
  std::string tag;          // "" when digest-only
  std::optional<digest::Digest> digest;

  // Host (and port) to connect to: registry-1.docker.io for docker.io.
  std::string api_host() const;
  // "docker.io/library/ubuntu:24.04", "...@sha256:..", or both "name:tag@sha256:..".
  std::string str() const;
  // "docker.io/library/ubuntu" (no tag or digest).
  std::string name() const;
  // The name as people write it: "ubuntu" for docker.io/library/ubuntu, "bob/app" for
  // docker.io/bob/app, the full name elsewhere. Parsing it gives name() back.
  std::string familiar_name() const;
  // The short form people write and Docker shows in RepoTags: "ubuntu:24.04",
  // "ns/app:1" for docker.io, full name elsewhere. With a tag the digest is left out;
  // a digest-only reference gives "ubuntu@sha256:..".
  std::string familiar() const;
  // What to ask the registry for: the digest if pinned, else the tag.
  std::string manifest_ref() const;
  // Token scope: "repository:library/ubuntu:pull".
  std::string scope(std::string_view actions = "pull") const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parse and normalise. Errors name the input (control bytes stripped) and the
// problem, e.g. `invalid reference "Ubuntu": repository name must be lowercase`.
// The kind is always InvalidInput (a digest Digest::parse rejects included, its
// message kept). The docker.io aliases (docker.io, index.docker.io) are recognised in
// any case; other domains are kept as written.
[[nodiscard]] core::Result<Reference> parse(std::string_view text);

}  // namespace ferry::reference

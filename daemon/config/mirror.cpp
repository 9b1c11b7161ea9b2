// `mirror_to`: where a sync pushes what it mirrored. The registry must be a host
// (with a dot or a port, or localhost: what a reference recognises as a registry),
// and the prefix path components valid repository components.
#include <fmt/format.h>

#include "config/sections.h"

namespace ferry::config::detail {

core::Result<MirrorTarget> read_mirror_to(const Source& source, const Field& mirror_to) {
  auto fields = read_fields(source, mirror_to.value, "mirror_to", {"registry", "prefix"});
  if (!fields) return core::fail(fields.error());
  const Field* reg = fields->find("registry");
  if (!reg) return fail_at(source, mirror_to.mark(), "mirror_to: missing required key \"registry\" (host[:port])");
  auto host = read_string(source, *reg);
  if (!host) return core::fail(host.error());
  MirrorTarget out;
  out.registry = normalize_host(*host);
  auto probe = reference::parse(*host + "/probe");
  if (host->find('/') != std::string::npos || !probe || normalize_host(probe->domain) != out.registry) {
    return fail_at(source, reg->mark(),
                   fmt::format("mirror_to: registry \"{}\" is not a registry host (want host[:port] with a dot or a "
                               "port, or localhost)",
                               echo(*host)));
  }
  if (const Field* p = fields->find("prefix")) {
    auto prefix = read_string(source, *p);
    if (!prefix) return core::fail(prefix.error());
    std::string trimmed = *prefix;
    while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
    while (!trimmed.empty() && trimmed.front() == '/') trimmed.erase(0, 1);
    auto ref = reference::parse(*host + "/" + trimmed + "/probe");
    if (trimmed.empty() || !ref || ref->repository != trimmed + "/probe") {
      return fail_at(source, p->mark(),
                     fmt::format("mirror_to: prefix \"{}\" is not a repository path (lowercase letters, digits, "
                                 "separators . _ - between them, components joined by /)",
                                 echo(*prefix)));
    }
    out.prefix = trimmed;
  }
  return out;
}

}  // namespace ferry::config::detail

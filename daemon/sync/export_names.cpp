// export_file_name: readable, safe, unique-per-reference tarball names.
#include "sync/export_names.h"

namespace ferry::sync {

namespace {
void append_safe(std::string& out, std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
}
}  // namespace

std::string export_file_name(const reference::Reference& ref, const manifest::Platform* platform) {
  std::string name;
  // Keep the registry out of Docker Hub names (ubuntu_24.04.tar), in everywhere else.
  std::string repo = ref.domain == reference::kDockerHubDomain ? ref.repository : ref.domain + "/" + ref.repository;
  if (repo.rfind("library/", 0) == 0) repo = repo.substr(8);
  append_safe(name, repo);
  name.push_back('_');
  if (!ref.tag.empty()) {
    append_safe(name, ref.tag);
  } else if (ref.digest) {
    append_safe(name, "sha256-" + std::string(ref.digest->short_hex()));
  }
  if (platform) {
    name.push_back('_');
    append_safe(name, platform->os + "-" + platform->architecture);
    if (!platform->variant.empty()) append_safe(name, "-" + platform->variant);
  }
  if (!name.empty() && name[0] == '.') name[0] = '_';
  return name + ".tar";
}

}  // namespace ferry::sync

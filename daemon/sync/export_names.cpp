// export_file_name: readable, safe, unique-per-reference tarball names.
#include "sync/export_names.h"

#include <cctype>
#include <map>

#include "digest/digest.h"

namespace ferry::sync {

namespace {

void append_safe(std::string& out, std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
}

std::string base_name(const reference::Reference& ref) {
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
  if (!name.empty() && name[0] == '.') name[0] = '_';
  return name;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void append_platform(std::string& name, const manifest::Platform* platform) {
  if (platform) {
    name.push_back('_');
    append_safe(name, platform->os + "-" + platform->architecture);
    if (!platform->variant.empty()) append_safe(name, "-" + platform->variant);
  }
}
}  // namespace

std::string export_file_name(const reference::Reference& ref, const manifest::Platform* platform) {
  std::string name = base_name(ref);
  append_platform(name, platform);
  return name + ".tar";
}

ExportNames::ExportNames(const std::vector<reference::Reference>& refs) {
  std::map<std::string, std::set<std::string>> by_base;  // lower-case base name -> references
  for (const auto& r : refs) by_base[lower(base_name(r))].insert(r.str());
  for (const auto& [base, members] : by_base) {
    bool clash = members.size() > 1;
    // `base_<os>-<arch>...` of a per-platform export: the names that start with
    // base + "_" (contiguous in this map) and carry a '-' after it.
    const std::string prefix = base + "_";
    for (auto it = by_base.lower_bound(prefix); it != by_base.end(); ++it) {
      const std::string& other = it->first;
      if (other.compare(0, prefix.size(), prefix) != 0) break;
      if (other.find('-', prefix.size()) != std::string::npos) {
        clash = true;
        suffixed_.insert(it->second.begin(), it->second.end());
      }
    }
    if (clash) suffixed_.insert(members.begin(), members.end());
  }
}

std::string ExportNames::name(const reference::Reference& ref, const manifest::Platform* platform) const {
  std::string name = base_name(ref);
  if (suffixed_.contains(ref.str())) {
    name += '_';
    name += digest::sha256_of(ref.str()).hex().substr(0, 8);
  }
  append_platform(name, platform);
  return name + ".tar";
}

}  // namespace ferry::sync

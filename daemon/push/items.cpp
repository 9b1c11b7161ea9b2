// push helpers: destinations, the store's items, indexes made for platform sets.
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "push/push.h"

namespace ferry::push {

BuiltManifest make_index(const std::vector<manifest::Descriptor>& entries, std::string type) {
  const bool docker = std::all_of(entries.begin(), entries.end(),
                                  [](const auto& d) { return d.media_type == manifest::media::kDockerManifest; });
  if (type.empty()) type = docker ? manifest::media::kDockerList : manifest::media::kOciIndex;
  nlohmann::ordered_json j;
  j["schemaVersion"] = 2;
  j["mediaType"] = type;
  j["manifests"] = nlohmann::ordered_json::array();
  for (const auto& d : entries) {
    nlohmann::ordered_json e{{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
    if (d.platform) {
      nlohmann::ordered_json p{{"architecture", d.platform->architecture}, {"os", d.platform->os}};
      if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
      e["platform"] = p;
    }
    if (!d.annotations.empty()) e["annotations"] = d.annotations;
    j["manifests"].push_back(e);
  }
  BuiltManifest out;
  out.body = j.dump();
  out.desc.media_type = type;
  out.desc.digest = digest::sha256_of(out.body);
  out.desc.size = static_cast<int64_t>(out.body.size());
  return out;
}

core::Result<reference::Reference> map_destination(const reference::Reference& source,
                                                   const std::string& registry_and_prefix) {
  std::string base = registry_and_prefix;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string text = base + "/" + source.repository;
  if (!source.tag.empty()) text += ":" + source.tag;
  if (source.digest) text += "@" + source.digest->str();
  auto dest = reference::parse(text);
  if (!dest) return core::fail(dest.error());
  const std::string host = base.substr(0, base.find('/'));
  if (dest->domain != host) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("destination \"{}\" must start with a registry host (a name with a dot or a port, "
                                  "or localhost)",
                                  registry_and_prefix));
  }
  return dest;
}

core::Result<std::vector<PushItem>> store_items(const store::Store& store) {
  auto index = store.read_index();
  if (!index) return core::fail(index.error());
  std::vector<PushItem> out;
  for (auto& g : store::group_by_reference(*index)) {
    out.push_back(PushItem{g.ref_name, std::move(g.descriptors), {}, g.referrer_of});
  }
  return out;
}

std::vector<PushItem> with_referrers(const std::vector<PushItem>& all, std::vector<PushItem> chosen) {
  const size_t subjects = chosen.size();
  for (const auto& item : all) {
    if (item.referrer_of.empty()) continue;
    bool of_chosen = std::any_of(chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(subjects),
                                 [&](const PushItem& c) { return c.source == item.referrer_of; });
    bool dup = std::any_of(chosen.begin(), chosen.end(), [&](const PushItem& c) { return c.source == item.source; });
    if (of_chosen && !dup) chosen.push_back(item);
  }
  return chosen;
}

reference::Reference referrer_destination(const reference::Reference& subject_dest,
                                          const reference::Reference& referrer_source) {
  reference::Reference d = subject_dest;
  d.tag = referrer_source.tag;
  d.digest = referrer_source.tag.empty() ? referrer_source.digest : std::nullopt;
  return d;
}

}  // namespace ferry::push

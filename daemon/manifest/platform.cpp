// Platforms: "os/arch[/variant]" text, and choosing an index entry for one.
//
// An index mixes real images with entries that only look like images: BuildKit
// attestation and builder manifests (platform unknown/unknown, annotated with
// `vnd.docker.reference.type`). Those are never selected. Variant matching follows
// the registries' habits: arm64 without a variant is v8, and when the caller names
// no variant the plain entry wins, then the architecture's usual one (arm64 v8,
// arm v7), then the first listed.
#include "manifest/manifest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "manifest/json_read.h"

namespace ferry::manifest {

namespace {

constexpr std::string_view kReferenceTypeAnnotation = "vnd.docker.reference.type";

bool is_platform_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

tl::unexpected<core::Error> bad_platform(std::string_view text, std::string_view why) {
  return core::fail(core::ErrorKind::InvalidInput,
                    fmt::format("invalid platform \"{}\": {} (want os/arch[/variant], e.g. linux/arm64/v8)",
                                detail::printable(text), why));
}

// The variant an architecture has when none is written, for comparisons.
std::string_view implied_variant(std::string_view architecture, std::string_view variant) {
  if (variant.empty() && architecture == "arm64") return "v8";
  return variant;
}

// The variant to prefer when the caller names none and no entry is variant-less.
std::string_view usual_variant(std::string_view architecture) {
  if (architecture == "arm64") return "v8";
  if (architecture == "arm") return "v7";
  return {};
}

std::vector<const Descriptor*> candidates_for(const Index& index, const Platform& want) {
  std::vector<const Descriptor*> out;
  for (const Descriptor& entry : index.manifests) {
    if (!is_image_entry(entry)) continue;
    const Platform& p = *entry.platform;
    if (p.os != want.os || p.architecture != want.architecture) continue;
    if (!want.os_version.empty() && p.os_version != want.os_version) continue;
    out.push_back(&entry);
  }
  return out;
}

const Descriptor* pick(const std::vector<const Descriptor*>& candidates, const Platform& want) {
  auto with_variant = [&](std::string_view variant) -> const Descriptor* {
    for (const Descriptor* d : candidates) {
      if (implied_variant(want.architecture, d->platform->variant) == implied_variant(want.architecture, variant)) {
        return d;
      }
    }
    return nullptr;
  };
  if (!want.variant.empty()) return with_variant(want.variant);
  for (const Descriptor* d : candidates) {
    if (d->platform->variant.empty()) return d;
  }
  if (auto usual = usual_variant(want.architecture); !usual.empty()) {
    if (const Descriptor* d = with_variant(usual)) return d;
  }
  return candidates.empty() ? nullptr : candidates.front();
}

tl::unexpected<core::Error> no_match(const Index& index, const Platform& want) {
  std::vector<std::string> available;
  for (const Descriptor& entry : image_entries(index)) {
    std::string name = entry.platform->str();
    if (std::find(available.begin(), available.end(), name) == available.end()) available.push_back(name);
  }
  std::string wanted = detail::printable(want.str());
  if (!want.os_version.empty()) wanted += fmt::format(" (os.version {})", detail::printable(want.os_version));
  std::string listed = available.empty() ? std::string("none") : fmt::format("{}", fmt::join(available, ", "));
  return core::fail(core::ErrorKind::NotFound,
                    fmt::format("no manifest for platform {}; available: {}", wanted, listed));
}

}  // namespace

std::string Platform::str() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

core::Result<Platform> parse_platform(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2) return bad_platform(text, "missing architecture");
  if (parts.size() > 3) return bad_platform(text, "too many parts");
  for (const std::string& part : parts) {
    if (part.empty()) return bad_platform(text, "empty part");
    if (!std::all_of(part.begin(), part.end(), is_platform_char)) return bad_platform(text, "invalid character");
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

bool is_image_entry(const Descriptor& entry) {
  if (!entry.platform) return false;
  if (entry.platform->os == "unknown" && entry.platform->architecture == "unknown") return false;
  return !entry.annotations.contains(std::string(kReferenceTypeAnnotation));
}

std::vector<Descriptor> image_entries(const Index& index) {
  std::vector<Descriptor> out;
  for (const Descriptor& entry : index.manifests) {
    if (is_image_entry(entry)) out.push_back(entry);
  }
  return out;
}

core::Result<Descriptor> select_platform(const Index& index, const Platform& want) {
  const Descriptor* chosen = pick(candidates_for(index, want), want);
  if (chosen == nullptr) return no_match(index, want);
  return *chosen;
}

}  // namespace ferry::manifest

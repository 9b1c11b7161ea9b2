// Watchlist loading: the file read whole, the YAML parsed into one document
// (load_document, which also ends on the inputs that hang YAML::LoadAll), and the
// top-level keys (store, export, schedule, concurrency, platforms, retry, registries,
// images, mirror_to) read into a Watchlist. Every yaml-cpp exception is caught and
// turned into the same `origin:line:column: message` error as our own checks.
#include <fmt/format.h>

#include <system_error>

#include "config/config.h"
#include "config/files.h"
#include "config/sections.h"
#include "config/yaml_document.h"
#include "config/yaml_read.h"

namespace ferry::config {

namespace {

using detail::Field;
using detail::Source;

core::Status read_paths(const Source& source, const detail::Fields& fields, Watchlist& out) {
  if (const Field* f = fields.find("store")) {
    auto v = detail::read_path(source, *f);
    if (!v) return core::fail(v.error());
    out.store = std::move(*v);
  }
  if (const Field* f = fields.find("export")) {
    auto v = detail::read_path(source, *f);
    if (!v) return core::fail(v.error());
    out.export_dir = std::move(*v);
  }
  return {};
}

core::Status read_settings(const Source& source, const detail::Fields& fields, Watchlist& out) {
  if (const Field* f = fields.find("schedule")) {
    auto text = detail::read_string(source, *f);
    if (!text) return core::fail(text.error());
    auto schedule = parse_schedule(*text);
    if (!schedule) return detail::fail_at(source, f->mark(), "schedule: " + schedule.error().message);
    out.schedule = *schedule;
  }
  if (const Field* f = fields.find("concurrency")) {
    auto v = detail::read_int(source, *f, 1, kMaxConcurrency);
    if (!v) return core::fail(v.error());
    out.concurrency = *v;
  }
  if (const Field* f = fields.find("segments")) {
    auto v = detail::read_int(source, *f, 1, kMaxSegments);
    if (!v) return core::fail(v.error());
    out.segments = *v;
  }
  if (const Field* f = fields.find("foreign_layers")) {
    auto v = detail::read_string(source, *f);
    if (!v) return core::fail(v.error());
    if (*v != "fetch" && *v != "refuse") {
      return detail::fail_at(source, f->mark(), fmt::format("foreign_layers: want fetch or refuse, got \"{}\"", *v));
    }
    out.fetch_foreign = *v == "fetch";
  }
  if (const Field* f = fields.find("platforms")) {
    auto v = detail::read_platforms(source, *f);
    if (!v) return core::fail(v.error());
    out.platforms = std::move(*v);
  }
  if (const Field* f = fields.find("retry")) {
    auto v = detail::read_retry(source, *f, false);
    if (!v) return core::fail(v.error());
    out.retry = *v;
  }
  return {};
}

core::Result<Watchlist> read_document(const Source& source, const YAML::Node& root) {
  if (root.IsNull()) {
    return detail::fail_at(source, root.Mark(), "empty watchlist: want a mapping with at least \"images\"");
  }
  if (!root.IsMap()) {
    return detail::fail_at(source, root.Mark(),
                           fmt::format("the watchlist must be a mapping (store, schedule, images, ...), got {}",
                                       detail::type_name(root)));
  }
  auto fields = detail::read_fields(
      source, root, "the watchlist",
      {"store", "export", "schedule", "concurrency", "segments", "foreign_layers", "platforms", "retry", "registries", "images",
       "mirror_to"});
  if (!fields) return core::fail(fields.error());
  Watchlist out;
  out.source = source.origin;
  if (auto s = read_paths(source, *fields, out); !s) return core::fail(s.error());
  if (auto s = read_settings(source, *fields, out); !s) return core::fail(s.error());
  if (const Field* f = fields->find("registries")) {
    auto v = detail::read_registries(source, *f);
    if (!v) return core::fail(v.error());
    out.registries = std::move(*v);
  }
  if (const Field* f = fields->find("mirror_to")) {
    auto v = detail::read_mirror_to(source, *f);
    if (!v) return core::fail(v.error());
    out.mirror_to = std::move(*v);
  }
  const Field* images = fields->find("images");
  if (!images) return detail::fail_at(source, root.Mark(), "missing required key \"images\"");
  auto entries = detail::read_images(source, *images);
  if (!entries) return core::fail(entries.error());
  out.images = std::move(*entries);
  return out;
}

// Parses `yaml` as exactly one document and reads it; yaml-cpp exceptions become errors.
core::Result<Watchlist> parse_text(std::string_view yaml, const Source& source) {
  auto root = detail::load_document(source, yaml);
  if (!root) return core::fail(root.error());
  try {
    return read_document(source, *root);
  } catch (const YAML::Exception& e) {
    return core::fail(detail::error_from(source, e));
  }
}

std::filesystem::path absolute_or_same(const std::filesystem::path& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal();
}

}  // namespace

core::Result<Watchlist> parse(std::string_view yaml, const std::string& origin, const std::filesystem::path& base_dir) {
  Source source{origin, absolute_or_same(base_dir.empty() ? std::filesystem::path(".") : base_dir)};
  return parse_text(yaml, source);
}

core::Result<Watchlist> load(const std::filesystem::path& file) {
  std::string origin = file.string();
  auto text = detail::read_text_file(origin, origin, kMaxWatchlistBytes);
  if (!text) return core::fail(text.error());
  std::filesystem::path absolute = absolute_or_same(file);
  Source source{origin, absolute.parent_path()};
  auto watchlist = parse_text(*text, source);
  if (watchlist) watchlist->source = absolute;
  return watchlist;
}

std::vector<manifest::Platform> platforms_for(const Watchlist& watchlist, const ImageEntry& entry) {
  if (entry.all_platforms) return {};
  return entry.platforms.empty() ? watchlist.platforms : entry.platforms;
}

}  // namespace ferry::config

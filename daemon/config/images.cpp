// The `images` section: each item is a reference string (`ubuntu:24.04`,
// `ghcr.io/x/app@sha256:...`) or a mapping with a `name`, optional `tags` (one
// entry per tag; a name without tag or digest alone means latest), and either
// `platforms` or `all_platforms: true`. Every reference is normalised, and two items
// naming the same normalised reference are an error pointing at the second and
// naming the line of the first.
#include <fmt/format.h>

#include <map>

#include "config/sections.h"

namespace ferry::config::detail {

namespace {

// An entry and the mark of the text it came from (the item, or the tag).
struct Located {
  ImageEntry entry;
  YAML::Mark mark;
};

int line_of(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.line + 1; }

// True when `name` carries a tag (':' after the last '/') or a digest ('@').
bool has_tag_or_digest(std::string_view name) {
  if (name.find('@') != std::string_view::npos) return true;
  size_t slash = name.rfind('/');
  return name.find(':', slash == std::string_view::npos ? 0 : slash + 1) != std::string_view::npos;
}

core::Result<reference::Reference> parse_reference(const Source& source, const YAML::Mark& mark,
                                                   std::string_view prefix, std::string_view text) {
  auto ref = reference::parse(text);
  if (!ref) return fail_at(source, mark, fmt::format("{}{}", prefix, ref.error().message));
  return ref;
}

// One entry per tag of `tags`, on `name` (which has neither tag nor digest).
core::Status expand_tags(const Source& source, const Field& tags, const std::string& name,
                         const ImageEntry& base, std::vector<Located>& out) {
  if (!tags.value.IsSequence()) {
    return fail_at(source, tags.mark(),
                   fmt::format("tags: must be a list of tags, e.g. [\"1.27\", latest], got {}", type_name(tags.value)));
  }
  if (tags.value.size() == 0) return fail_at(source, tags.mark(), "tags: must list at least one tag");
  for (const YAML::Node& item : tags.value) {
    Field tag_field{"tags", tags.key_node, item};
    auto tag = read_string(source, tag_field);
    if (!tag) return core::fail(tag.error());
    if (tag->find_first_of(":/@") != std::string::npos) {
      return fail_at(source, item.Mark(),
                     fmt::format("tags: invalid tag \"{}\": ':', '/' and '@' are not allowed", echo(*tag)));
    }
    auto ref = parse_reference(source, item.Mark(), "tags: ", name + ":" + *tag);
    if (!ref) return core::fail(ref.error());
    ImageEntry entry = base;
    entry.ref = std::move(*ref);
    entry.line = line_of(item.Mark());
    out.push_back(Located{std::move(entry), item.Mark()});
  }
  return {};
}

// platforms / all_platforms / referrers of a mapping item, into `entry`.
core::Status read_entry_platforms(const Source& source, const Fields& fields, ImageEntry& entry) {
  const Field* platforms = fields.find("platforms");
  const Field* all = fields.find("all_platforms");
  if (platforms) {
    auto list = read_platforms(source, *platforms);
    if (!list) return core::fail(list.error());
    entry.platforms = std::move(*list);
  }
  if (all) {
    auto flag = read_bool(source, *all);
    if (!flag) return core::fail(flag.error());
    entry.all_platforms = *flag;
  }
  if (const Field* referrers = fields.find("referrers")) {
    auto flag = read_bool(source, *referrers);
    if (!flag) return core::fail(flag.error());
    entry.referrers = *flag;
  }
  if (platforms && entry.all_platforms) {
    return fail_at(source, all->key_node.Mark(),
                   "all_platforms: true cannot be combined with platforms (choose one)");
  }
  return {};
}

core::Status read_mapping_item(const Source& source, const YAML::Node& item, std::vector<Located>& out) {
  auto fields = read_fields(source, item, "image entry", {"name", "tags", "platforms", "all_platforms", "referrers"});
  if (!fields) return core::fail(fields.error());
  const Field* name_field = fields->find("name");
  if (!name_field) return fail_at(source, item.Mark(), "image entry: missing name");
  auto name = read_string(source, *name_field);
  if (!name) return core::fail(name.error());
  ImageEntry base;
  base.line = line_of(item.Mark());
  if (auto s = read_entry_platforms(source, *fields, base); !s) return s;
  const Field* tags = fields->find("tags");
  if (tags && has_tag_or_digest(*name)) {
    return fail_at(source, name_field->mark(),
                   fmt::format("name: \"{}\" already has a tag or digest; with tags, give the name alone",
                               echo(*name)));
  }
  if (tags) return expand_tags(source, *tags, *name, base, out);
  auto ref = parse_reference(source, name_field->mark(), "name: ", *name);
  if (!ref) return core::fail(ref.error());
  base.ref = std::move(*ref);
  out.push_back(Located{std::move(base), item.Mark()});
  return {};
}

core::Status read_item(const Source& source, const YAML::Node& item, std::vector<Located>& out) {
  if (item.IsMap()) return read_mapping_item(source, item, out);
  if (!item.IsScalar() || item.Scalar().empty()) {
    return fail_at(source, item.Mark(),
                   fmt::format("image entry must be a reference (e.g. ubuntu:24.04) or a mapping with name, got {}",
                               type_name(item)));
  }
  auto ref = parse_reference(source, item.Mark(), "", item.Scalar());
  if (!ref) return core::fail(ref.error());
  ImageEntry entry;
  entry.ref = std::move(*ref);
  entry.line = line_of(item.Mark());
  out.push_back(Located{std::move(entry), item.Mark()});
  return {};
}

}  // namespace

core::Result<std::vector<ImageEntry>> read_images(const Source& source, const Field& images) {
  if (images.value.IsNull()) return std::vector<ImageEntry>{};
  if (!images.value.IsSequence()) {
    return fail_at(source, images.mark(),
                   fmt::format("images: must be a list of references or mappings with name, got {}",
                               type_name(images.value)));
  }
  std::vector<Located> located;
  for (const YAML::Node& item : images.value) {
    if (auto s = read_item(source, item, located); !s) return core::fail(s.error());
  }
  std::map<std::string, int> first_line;
  std::vector<ImageEntry> out;
  out.reserve(located.size());
  for (Located& l : located) {
    auto [it, inserted] = first_line.emplace(l.entry.ref.str(), l.entry.line);
    if (!inserted) {
      return fail_at(source, l.mark,
                     fmt::format("duplicate image {} (already listed on line {})", it->first, it->second));
    }
    out.push_back(std::move(l.entry));
  }
  return out;
}

}  // namespace ferry::config::detail

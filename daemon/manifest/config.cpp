// Image configs: the platform and the uncompressed layer digests (rootfs.diff_ids).
//
// Only what export needs is read; history, env, labels and the rest are ignored.
// diff_ids become file names in a `docker save` tar, so each is validated exactly
// like a descriptor digest.
#include "manifest/manifest.h"

#include <fmt/format.h>

#include "manifest/json_read.h"

namespace ferry::manifest {

namespace {

using detail::Need;
using detail::object;

constexpr std::string_view kDoc = "config";

core::Status read_config_platform(const object& root, Platform& out) {
  return detail::read_string(root, "os", "", Need::kRequired, out.os)
      .and_then([&] { return detail::read_string(root, "architecture", "", Need::kRequired, out.architecture); })
      .and_then([&] { return detail::read_string(root, "variant", "", Need::kOptional, out.variant); })
      .and_then([&] { return detail::read_string(root, "os.version", "", Need::kOptional, out.os_version); });
}

core::Status read_diff_ids(const object& root, std::vector<digest::Digest>& out) {
  auto value = detail::find(root, "rootfs");
  if (!value) return detail::field_fail("rootfs", "missing");
  auto rootfs = detail::as_object(*value, "rootfs");
  if (!rootfs) return core::fail(std::move(rootfs.error()));
  std::string type;
  if (auto st = detail::read_string(*rootfs, "type", "rootfs", Need::kOptional, type); !st) return st;
  if (!type.empty() && type != "layers") {
    return detail::field_fail("rootfs.type", fmt::format("want \"layers\", got \"{}\"", detail::printable(type)));
  }
  auto list = detail::read_array(*rootfs, "diff_ids", "rootfs", Need::kRequired);
  if (!list) return core::fail(std::move(list.error()));
  size_t i = 0;
  for (detail::element id : **list) {
    digest::Digest d;
    if (auto st = detail::read_digest(id, detail::item("rootfs.diff_ids", i++), d); !st) return st;
    out.push_back(std::move(d));
  }
  return {};
}

}  // namespace

core::Result<ImageConfig> parse_config(std::string_view body) {
  if (body.size() > kMaxConfigSize) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("config: body is {} bytes, over the {} byte limit", body.size(), kMaxConfigSize));
  }
  simdjson::padded_string text(body);
  simdjson::dom::parser parser;  // the DOM below borrows from it: keep it alive
  auto root = detail::parse_root(parser, text);
  if (!root) return detail::in_doc(kDoc, std::move(root.error()));
  ImageConfig config;
  auto st = read_config_platform(*root, config.platform).and_then([&] {
    return read_diff_ids(*root, config.diff_ids);
  });
  if (!st) return detail::in_doc(kDoc, std::move(st.error()));
  return config;
}

}  // namespace ferry::manifest

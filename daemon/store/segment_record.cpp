#include "store/segment_record.h"

#include <charconv>

#include <fmt/format.h>

namespace ferry::store {

namespace {
constexpr std::string_view kSegmentsMagic = "ferry-segments 1";
}  // namespace

std::string format_segment_record(int64_t size, const std::vector<ByteRange>& held) {
  std::string text = fmt::format("{} {}\n", kSegmentsMagic, size);
  for (const auto& r : held) text += fmt::format("{} {}\n", r.from, r.to);
  text += "end\n";
  return text;
}

std::optional<std::vector<ByteRange>> parse_segment_record(std::string_view text, int64_t size) {
  if (size < 0) return std::nullopt;  // only blobs of known size are fetched in segments
  auto next_line = [&text]() -> std::optional<std::string_view> {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    return line;
  };
  auto head = next_line();
  if (!head || *head != fmt::format("{} {}", kSegmentsMagic, size)) return std::nullopt;
  std::vector<ByteRange> out;
  for (;;) {
    auto line = next_line();
    if (!line) return std::nullopt;
    if (*line == "end") return out;
    ByteRange r;
    auto sp = line->find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto a = std::from_chars(line->data(), line->data() + sp, r.from);
    auto b = std::from_chars(line->data() + sp + 1, line->data() + line->size(), r.to);
    if (a.ec != std::errc() || a.ptr != line->data() + sp || b.ec != std::errc() ||
        b.ptr != line->data() + line->size()) {
      return std::nullopt;
    }
    if (r.from >= r.to || r.to > static_cast<uint64_t>(size) || (!out.empty() && r.from < out.back().to)) {
      return std::nullopt;
    }
    out.push_back(r);
  }
}

}  // namespace ferry::store

// libFuzzer target: what a registry's answer carries besides manifests and blobs.
// The first byte picks: 0 error_from_response (status from the next two bytes, the
// rest the body; a Retry-After header when bit 7 is set, its value the first line),
// 1 parse_retry_after, 2 http::parse_content_range.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/redact.h"
#include "fuzz_check.h"
#include "http/content_range.h"
#include "registry/errors.h"

namespace {

using namespace ferry;

const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'700'000'000)};
constexpr std::string_view kWhat = "GET https://registry.example/v2/x/manifests/1";

void fuzz_error(uint8_t flags, std::string_view rest) {
  if (rest.size() < 2) return;
  http::Response resp;
  resp.status = 100 + (static_cast<uint8_t>(rest[0]) << 8 | static_cast<uint8_t>(rest[1])) % 500;
  rest.remove_prefix(2);
  if (flags & 0x80) {
    const size_t nl = rest.find('\n');
    resp.headers.emplace_back("retry-after", std::string(rest.substr(0, nl)));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  resp.body = std::string(rest);
  const core::Error e = registry::error_from_response(resp, kWhat, kNow);
  fuzz::check_error(e);
  FUZZ_CHECK(e.http_status == resp.status);
  FUZZ_CHECK(e.message.starts_with(std::string(kWhat) + ": HTTP " + std::to_string(resp.status)));
  FUZZ_CHECK(core::is_utf8(e.message));                         // escaped, never raw bytes
  FUZZ_CHECK(e.message.size() <= kWhat.size() + 450);           // one bounded line
  if (e.retry_after) FUZZ_CHECK(e.retry_after->count() >= 0);
}

void fuzz_retry_after(std::string_view v) {
  auto r = registry::parse_retry_after(v, kNow);
  if (!r) return;
  FUZZ_CHECK(r->count() >= 0);
  // Seconds are at most nine digits; a date at most the year 9999.
  FUZZ_CHECK(r->count() <= 253402300799 - 1'700'000'000);
}

void fuzz_content_range(std::string_view v) {
  auto r = http::parse_content_range(v);
  if (!r) return;
  FUZZ_CHECK(r->first <= r->last);
  if (r->complete) FUZZ_CHECK(r->last < *r->complete);
  // What was accepted reads back the same from its canonical form (leading zeros
  // are allowed by RFC 9110, so the text itself need not be canonical).
  const std::string canonical = "bytes " + std::to_string(r->first) + "-" + std::to_string(r->last) + "/" +
                                (r->complete ? std::to_string(*r->complete) : "*");
  auto again = http::parse_content_range(canonical);
  FUZZ_CHECK(again && again->first == r->first && again->last == r->last && again->complete == r->complete);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest = fuzz::as_view(data + 1, size - 1);
  switch ((data[0] & 0x7f) % 3) {
    case 0: fuzz_error(data[0], rest); break;
    case 1: fuzz_retry_after(rest); break;
    default: fuzz_content_range(rest); break;
  }
  return 0;
}

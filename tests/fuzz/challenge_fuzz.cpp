// libFuzzer target: ferry::auth::parse_challenges and parse_token_response.
// The first byte picks the parser; the rest is the input.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "auth/auth.h"
#include "fuzz_check.h"

namespace {

bool has_upper(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

void fuzz_challenges(std::string_view header) {
  using namespace ferry;
  auto r = auth::parse_challenges(header);
  if (!r) {
    ferry::fuzz::check_error(r.error());
    return;
  }
  for (const auth::Challenge& c : *r) {
    FUZZ_CHECK(!c.scheme.empty());
    FUZZ_CHECK(!has_upper(c.scheme));
    for (const auto& [key, value] : c.params) {
      FUZZ_CHECK(!key.empty());
      FUZZ_CHECK(!has_upper(key));
      FUZZ_CHECK(c.param(key) == value);
    }
  }
}

void fuzz_token(std::string_view body) {
  using namespace ferry;
  // A fixed "now" keeps runs reproducible.
  const auth::Clock::time_point now{std::chrono::seconds(1'700'000'000)};
  auto r = auth::parse_token_response(body, now);
  if (!r) {
    ferry::fuzz::check_error(r.error());
    return;
  }
  FUZZ_CHECK(!r->value.empty());
  // Never later than now + the largest lifetime.
  FUZZ_CHECK(r->expires_at <= now + auth::kMaxTokenLifetime);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = ferry::fuzz::as_view(data + 1, size - 1);
  if (data[0] & 1)
    fuzz_token(rest);
  else
    fuzz_challenges(rest);
  return 0;
}

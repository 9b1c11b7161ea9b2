// libFuzzer target: ferry::config::parse (a watchlist YAML text).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  auto r = config::parse(yaml, "fuzz.yaml", "/fuzz");
  if (!r) {
    fuzz::check_error(r.error());
    return 0;
  }
  const config::Watchlist& w = *r;
  FUZZ_CHECK(w.concurrency >= 1 && w.concurrency <= config::kMaxConcurrency);
  FUZZ_CHECK(w.store.empty() || w.store[0] == '/');
  FUZZ_CHECK(w.export_dir.empty() || w.export_dir[0] == '/');

  // The schedule's written form reads back to the same schedule.
  auto sched = config::parse_schedule(w.schedule.str());
  FUZZ_CHECK(sched.has_value());
  FUZZ_CHECK(*sched == w.schedule);

  for (const auto& [host, settings] : w.registries) {
    FUZZ_CHECK(host == settings.host);
    FUZZ_CHECK(config::normalize_host(host) == host);
    FUZZ_CHECK(settings.concurrency >= 0 && settings.concurrency <= config::kMaxConcurrency);
    FUZZ_CHECK(config::find_registry(w, host) != nullptr);
    if (settings.credentials)
      FUZZ_CHECK(settings.credentials->password_file.empty() != settings.credentials->password_env.empty());
  }
  for (const auto& img : w.images) {
    FUZZ_CHECK(img.line >= 1);
    auto again = reference::parse(img.ref.str());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == img.ref);
    if (img.all_platforms) FUZZ_CHECK(config::platforms_for(w, img).empty());
  }
  return 0;
}

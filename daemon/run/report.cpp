// state/last-run.json and the Prometheus textfile of a sync run.
#include "run/report.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/fs_util.h"

namespace ferry::run {

size_t RunSummary::failed() const {
  return static_cast<size_t>(std::count_if(images.begin(), images.end(), [](auto& i) { return !i.error.empty(); }));
}

core::Status write_last_run(const store::Store& store, const RunSummary& s) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& i : s.images) {
    nlohmann::json j{{"reference", i.reference}, {"digest", i.digest},       {"changed", i.changed},
                     {"bytes", i.bytes},         {"seconds", i.seconds},     {"error", i.error},
                     {"export", i.export_file},  {"exported", i.exported}};
    if (!i.pushed_to.empty()) {
      j["pushed_to"] = i.pushed_to;
      j["push_current"] = i.push_current;
      j["pushed_bytes"] = i.pushed_bytes;
    }
    images.push_back(std::move(j));
  }
  nlohmann::json run{{"finished", std::chrono::duration_cast<std::chrono::seconds>(s.finished.time_since_epoch()).count()},
                     {"seconds", s.seconds},
                     {"bytes", s.bytes},
                     {"requests", s.requests},
                     {"pushed_bytes", s.pushed_bytes},
                     {"failed", s.failed()},
                     {"last_success", s.last_success},
                     {"images", images}};
  return store.write_file(store::Area::State, "last-run.json", run.dump(2) + "\n");
}

int64_t read_last_success(const store::Store& store) {
  auto text = store.read_file(store::Area::State, "last-run.json", 64 << 20);
  if (!text) return 0;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("last_success") || !j["last_success"].is_number_integer()) return 0;
  return j["last_success"].get<int64_t>();
}

core::Status write_metrics(const std::filesystem::path& file, const RunSummary& s) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(s.finished.time_since_epoch()).count();
  std::string out;
  out += "# HELP ferry_sync_images Images in the last sync run, by result.\n# TYPE ferry_sync_images gauge\n";
  out += fmt::format("ferry_sync_images{{result=\"ok\"}} {}\n", s.images.size() - s.failed());
  out += fmt::format("ferry_sync_images{{result=\"failed\"}} {}\n", s.failed());
  out += "# HELP ferry_sync_bytes_fetched Bytes downloaded by the last sync run.\n# TYPE ferry_sync_bytes_fetched gauge\n";
  out += fmt::format("ferry_sync_bytes_fetched {}\n", s.bytes);
  out += "# HELP ferry_sync_duration_seconds Wall time of the last sync run.\n# TYPE ferry_sync_duration_seconds gauge\n";
  out += fmt::format("ferry_sync_duration_seconds {:.3f}\n", s.seconds);
  out += "# HELP ferry_sync_last_run_timestamp_seconds When the last sync run ended.\n"
         "# TYPE ferry_sync_last_run_timestamp_seconds gauge\n";
  out += fmt::format("ferry_sync_last_run_timestamp_seconds {}\n", now);
  out += "# HELP ferry_sync_last_success_timestamp_seconds When a sync run last ended with every image ok.\n"
         "# TYPE ferry_sync_last_success_timestamp_seconds gauge\n";
  out += fmt::format("ferry_sync_last_success_timestamp_seconds {}\n", s.last_success);
  return store::write_file_atomic(file, out);
}

}  // namespace ferry::run

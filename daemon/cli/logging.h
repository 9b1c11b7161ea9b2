// Logging set-up: one stderr logger for the whole process.
//
// text: "level: message" on terminals and under journald (which adds its own
// timestamps), with an ISO timestamp otherwise. json: one object per line
// ({"time","level","msg"}), message escaped, for log shippers.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace ferry::cli {

void setup_logging(const std::string& level, const std::string& format);

// Runs before every log line is written (on the logging thread); empty to remove.
void set_before_log_hook(std::function<void()> hook);

// JSON string escaping (quotes, backslashes, control characters).
std::string json_escape(std::string_view s);

}  // namespace ferry::cli

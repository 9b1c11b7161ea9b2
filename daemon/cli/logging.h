// Logging set-up: one stderr logger for the whole process.
//
// text: "level: message" on terminals and under journald (which adds its own
// timestamps), with an ISO timestamp otherwise. json: one object per line
// ({"time","level","msg"}), message escaped, for log shippers. The CLI's own error
// lines (write_error_line) are plain "ferry: …" text, or under json objects of
// that same shape; no log level filters them.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace ferry::cli {

void setup_logging(const std::string& level, const std::string& format);

// Writes one error line of the CLI's own to stderr, never filtered by the level:
// `text` as it is with --log-format text, else a JSON object shaped like the log's
// lines with level "error" and `text` as msg. Before setup_logging: plain text.
void write_error_line(std::string_view text);

// Runs before every log line is written (on the logging thread); empty to remove.
void set_before_log_hook(std::function<void()> hook);

// JSON string escaping (quotes, backslashes, control characters).
std::string json_escape(std::string_view s);

}  // namespace ferry::cli

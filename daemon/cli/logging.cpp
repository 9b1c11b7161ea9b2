// spdlog configuration: patterns and the JSON-escaped message flag.
#include "cli/logging.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace ferry::cli {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

namespace {

std::function<void()> g_before_log;
bool g_json = false;

// stderr, with a hook that runs before each line (the progress display clears itself
// there, so log lines never land inside it or get erased by its next redraw).
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (g_before_log) g_before_log();
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 public:
  // `line` verbatim (plus a newline), under the same lock and hook as a log line.
  void write_raw(std::string_view line) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (g_before_log) g_before_log();
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
};

std::shared_ptr<StderrSink> g_sink;

// %* : the message, escaped for a JSON string.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessage>(); }
};

}  // namespace

void set_before_log_hook(std::function<void()> hook) { g_before_log = std::move(hook); }

void write_error_line(std::string_view text) {
  if (!g_sink) {
    fmt::print(stderr, "{}\n", text);
    return;
  }
  if (!g_json) return g_sink->write_raw(text);
  g_sink->log(spdlog::details::log_msg("ferry", spdlog::level::err, spdlog::string_view_t(text.data(), text.size())));
  g_sink->flush();
}

void setup_logging(const std::string& level, const std::string& format) {
  g_sink = std::make_shared<StderrSink>();
  g_json = format == "json";
  auto logger = std::make_shared<spdlog::logger>("ferry", g_sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    formatter->add_flag<EscapedMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
  } else if (::isatty(STDERR_FILENO) || std::getenv("JOURNAL_STREAM") != nullptr) {
    formatter->set_pattern("%l: %v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S%z %l: %v");
  }
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace ferry::cli

// Schedules: "HH:MM" for a daily run at local time, "every 6h" / "every 1h30m" for a
// fixed interval, "none" for no schedule; and the same text back from Schedule::str().
// Durations ("90s", "1h30m", as for deadlines) share the interval syntax.
#include <fmt/format.h>

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "config/config.h"
#include "config/yaml_read.h"

namespace ferry::config {

namespace {

constexpr std::string_view kEveryPrefix = "every ";
constexpr std::string_view kNone = "none";
constexpr std::string_view kForms =
    "want \"HH:MM\" (daily, local time), \"every N\" with a unit s, m, h or d (e.g. \"every 6h\", "
    "\"every 1h30m\"), or \"none\"";
constexpr int kHoursPerDay = 24;
constexpr int kMinutesPerHour = 60;

// Units from the largest, so str() can pick the largest that divides the interval.
constexpr std::array<std::pair<char, long long>, 4> kUnits = {{
    {'d', 24 * 3600},
    {'h', 3600},
    {'m', 60},
    {'s', 1},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

tl::unexpected<core::Error> bad_schedule(std::string_view text, std::string_view why) {
  return core::fail(core::ErrorKind::InvalidInput,
                    fmt::format("invalid schedule \"{}\": {}", detail::echo(text), why));
}

// Reads the digits at the front of `text` (at most `max_digits`), or -1.
long long take_number(std::string_view& text, size_t max_digits) {
  size_t n = 0;
  long long value = 0;
  while (n < text.size() && is_digit(text[n])) {
    if (n == max_digits) return -1;
    value = value * 10 + (text[n] - '0');
    ++n;
  }
  if (n == 0) return -1;
  text.remove_prefix(n);
  return value;
}

core::Result<Schedule> parse_daily(std::string_view text) {
  std::string_view rest = text;
  long long hour = take_number(rest, 2);
  if (hour < 0 || rest.empty() || rest.front() != ':') return bad_schedule(text, kForms);
  rest.remove_prefix(1);
  if (rest.size() != 2) return bad_schedule(text, "minutes must be two digits (HH:MM)");
  long long minute = take_number(rest, 2);
  if (minute < 0 || !rest.empty()) return bad_schedule(text, kForms);
  if (hour >= kHoursPerDay || minute >= kMinutesPerHour) {
    return bad_schedule(text, "time of day must be between 00:00 and 23:59");
  }
  Schedule s;
  s.kind = Schedule::Kind::Daily;
  s.hour = static_cast<int>(hour);
  s.minute = static_cast<int>(minute);
  return s;
}

long long unit_seconds(char unit) {
  for (const auto& [symbol, seconds] : kUnits) {
    if (symbol == unit) return seconds;
  }
  return 0;
}

// Why sum_units refused its text.
enum class UnitsFault {
  Form,   // not numbers with units at all
  Unit,   // a unit missing or unknown
  Range,  // well formed, but outside [kMinInterval, kMaxInterval]
};

// "6h", "90s", "1h30m": numbers each followed by a unit, summed; nullopt, the reason
// and its kind when the text is not of that form or the sum is out of range.
std::optional<long long> sum_units(std::string_view spec, std::string& why, UnitsFault& fault) {
  constexpr size_t kMaxDigits = 9;  // keeps the sum far from overflow
  long long total = 0;
  while (!spec.empty()) {
    long long n = take_number(spec, kMaxDigits);
    if (n < 0) {
      fault = UnitsFault::Form;
      return why = "want numbers each followed by a unit s, m, h or d (e.g. \"90s\", \"1h30m\")", std::nullopt;
    }
    fault = UnitsFault::Unit;
    if (spec.empty()) return why = "missing unit after the number (s, m, h or d)", std::nullopt;
    long long unit = unit_seconds(spec.front());
    if (unit == 0) {
      why = fmt::format("unknown unit '{}' (s, m, h or d)", detail::echo(spec.substr(0, 1)));
      return std::nullopt;
    }
    spec.remove_prefix(1);
    total += n * unit;
    if (total > kMaxInterval.count()) break;
  }
  if (total < kMinInterval.count() || total > kMaxInterval.count()) {
    fault = UnitsFault::Range;
    why = fmt::format("must be between {}s and {}d", kMinInterval.count(), kMaxInterval.count() / unit_seconds('d'));
    return std::nullopt;
  }
  return total;
}

core::Result<Schedule> parse_interval(std::string_view text, std::string_view spec) {
  if (spec.empty()) return bad_schedule(text, "missing interval after \"every\"");
  std::string why;
  UnitsFault fault{};
  auto total = sum_units(spec, why, fault);
  if (!total) {
    switch (fault) {
      case UnitsFault::Form: return bad_schedule(text, kForms);
      case UnitsFault::Range: return bad_schedule(text, "interval " + why);
      case UnitsFault::Unit: break;
    }
    return bad_schedule(text, why);
  }
  Schedule s;
  s.kind = Schedule::Kind::Interval;
  s.interval = std::chrono::seconds(*total);
  return s;
}

}  // namespace

std::string Schedule::str() const {
  switch (kind) {
    case Kind::None: return std::string(kNone);
    case Kind::Daily: return fmt::format("{:02}:{:02}", hour, minute);
    case Kind::Interval:
      for (const auto& [symbol, seconds] : kUnits) {
        if (interval.count() % seconds == 0) return fmt::format("every {}{}", interval.count() / seconds, symbol);
      }
      break;
  }
  return std::string(kNone);
}

core::Result<std::chrono::seconds> parse_duration(std::string_view text) {
  std::string why = "missing duration";
  UnitsFault fault{};
  auto total = text.empty() ? std::nullopt : sum_units(text, why, fault);
  if (!total) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("invalid duration \"{}\": {}", detail::echo(text), why));
  }
  return std::chrono::seconds(*total);
}

std::string format_duration(std::chrono::seconds d) {
  if (d.count() <= 0) return "0s";
  std::string out;
  long long left = d.count();
  for (const auto& [symbol, seconds] : kUnits) {
    if (left >= seconds) {
      out += fmt::format("{}{}", left / seconds, symbol);
      left %= seconds;
    }
  }
  return out;
}

core::Result<Schedule> parse_schedule(std::string_view text) {
  if (text == kNone) return Schedule{};
  if (text.starts_with(kEveryPrefix)) return parse_interval(text, text.substr(kEveryPrefix.size()));
  if (!text.empty() && is_digit(text.front())) return parse_daily(text);
  return bad_schedule(text, kForms);
}

}  // namespace ferry::config

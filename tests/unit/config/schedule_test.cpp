// Schedules: daily times and intervals parsed, their str() form and round trip, and
// the malformed texts with the problem each message names.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace ferry::config {
namespace {

using std::chrono::seconds;

TEST(Schedule, DailyTimes) {
  const struct {
    const char* text;
    int hour, minute;
    const char* str;
  } cases[] = {{"02:00", 2, 0, "02:00"}, {"2:05", 2, 5, "02:05"}, {"00:00", 0, 0, "00:00"}, {"23:59", 23, 59, "23:59"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto s = parse_schedule(c.text);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->kind, Schedule::Kind::Daily);
    EXPECT_EQ(s->hour, c.hour);
    EXPECT_EQ(s->minute, c.minute);
    EXPECT_EQ(s->str(), c.str);
  }
}

TEST(Schedule, Intervals) {
  const struct {
    const char* text;
    long long secs;
    const char* str;
  } cases[] = {
      {"every 6h", 6 * 3600, "every 6h"},  {"every 30m", 1800, "every 30m"}, {"every 90s", 90, "every 90s"},
      {"every 1h30m", 5400, "every 90m"}, {"every 2d", 2 * 86400, "every 2d"}, {"every 1s", 1, "every 1s"},
      {"every 120m", 7200, "every 2h"},   {"every 365d", 365 * 86400, "every 365d"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto s = parse_schedule(c.text);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->kind, Schedule::Kind::Interval);
    EXPECT_EQ(s->interval, seconds(c.secs));
    EXPECT_EQ(s->str(), c.str);
    auto again = parse_schedule(s->str());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *s);
  }
}

TEST(Schedule, None) {
  auto s = parse_schedule("none");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, Schedule::Kind::None);
  EXPECT_EQ(Schedule{}.str(), "none");
}

TEST(Schedule, MalformedTexts) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "want \"HH:MM\""},
      {"daily", "want \"HH:MM\""},
      {"24:00", "between 00:00 and 23:59"},
      {"12:60", "between 00:00 and 23:59"},
      {"12:5", "minutes must be two digits"},
      {"123:00", "want \"HH:MM\""},
      {"12:00 ", "minutes must be two digits"},
      {"every", "want \"HH:MM\""},
      {"every ", "missing interval"},
      {"every 6", "missing unit"},
      {"every h", "want \"HH:MM\""},
      {"every 6x", "unknown unit 'x'"},
      {"every 6H", "unknown unit 'H'"},
      {"every 0s", "interval must be between 1s and 365d"},
      {"every 366d", "interval must be between 1s and 365d"},
      {"every 999999999d", "interval must be between"},
      {"every 9999999999s", "want \"HH:MM\""},
      {"Every 6h", "want \"HH:MM\""},
  };
  for (const auto& [text, what] : cases) {
    SCOPED_TRACE(text);
    auto s = parse_schedule(text);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, core::ErrorKind::InvalidInput);
    EXPECT_TRUE(s.error().message.starts_with("invalid schedule \"" + std::string(text) + "\": "))
        << s.error().message;
    EXPECT_NE(s.error().message.find(what), std::string::npos) << s.error().message;
  }
}

TEST(Duration, ParsedAndFormatted) {
  const struct {
    const char* text;
    long long secs;
    const char* str;
  } cases[] = {{"90s", 90, "1m30s"}, {"2m", 120, "2m"}, {"1h30m", 5400, "1h30m"}, {"2h", 7200, "2h"},
               {"1d", 86400, "1d"},   {"1d1s", 86401, "1d1s"}, {"120m", 7200, "2h"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto d = parse_duration(c.text);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->count(), c.secs);
    EXPECT_EQ(format_duration(*d), c.str);
    EXPECT_EQ(parse_duration(format_duration(*d)).value(), *d);  // round trip
  }
}

TEST(Duration, Malformed) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {{"", "invalid duration \"\": missing duration"},
               {"90", "missing unit after the number"},
               {"5w", "unknown unit 'w'"},
               {"0s", "must be between 1s and 365d"},
               {"366d", "must be between 1s and 365d"},
               {"1h 30m", "want numbers each followed by a unit"},
               {"-5m", "want numbers each followed by a unit"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto d = parse_duration(c.text);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, core::ErrorKind::InvalidInput);
    EXPECT_NE(d.error().message.find(c.why), std::string::npos) << d.error().message;
  }
}

}  // namespace
}  // namespace ferry::config

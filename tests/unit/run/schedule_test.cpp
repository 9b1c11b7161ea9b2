// run::next_run: an interval adds to now; a daily time is today's when still ahead,
// else tomorrow's, in local time (TZ pinned to UTC here).
#include "run/schedule.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace ferry::run {
namespace {

using namespace std::chrono_literals;
using Wall = std::chrono::system_clock;

class ScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  static Wall::time_point at(int y, int mon, int d, int h, int m, int s) {
    std::tm t{};
    t.tm_year = y - 1900;
    t.tm_mon = mon - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = m;
    t.tm_sec = s;
    return Wall::from_time_t(timegm(&t));
  }
  static config::Schedule daily(int h, int m) {
    config::Schedule s;
    s.kind = config::Schedule::Kind::Daily;
    s.hour = h;
    s.minute = m;
    return s;
  }
};

TEST_F(ScheduleTest, AnIntervalAddsToNow) {
  config::Schedule s;
  s.kind = config::Schedule::Kind::Interval;
  s.interval = 90min;
  const auto now = at(2026, 12, 4, 10, 0, 0);
  EXPECT_EQ(next_run(s, now), now + 90min);
}

TEST_F(ScheduleTest, ADailyTimeStillAheadIsToday) {
  EXPECT_EQ(next_run(daily(2, 0), at(2026, 12, 4, 1, 59, 30)), at(2026, 12, 4, 2, 0, 0));
}

TEST_F(ScheduleTest, ADailyTimePassedOrNowIsTomorrow) {
  EXPECT_EQ(next_run(daily(2, 0), at(2026, 12, 4, 2, 0, 0)), at(2026, 12, 5, 2, 0, 0));
  EXPECT_EQ(next_run(daily(2, 0), at(2026, 12, 31, 23, 0, 0)), at(2027, 1, 1, 2, 0, 0));
}

TEST_F(ScheduleTest, NoScheduleHasNoLaterRun) {
  const auto now = at(2026, 12, 4, 10, 0, 0);
  EXPECT_EQ(next_run(config::Schedule{}, now), now);
}

}  // namespace
}  // namespace ferry::run

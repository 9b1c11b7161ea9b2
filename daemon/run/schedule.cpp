// The next run of a schedule (run/schedule.h).
#include "run/schedule.h"

#include <ctime>

namespace ferry::run {

std::chrono::system_clock::time_point next_run(const config::Schedule& sched,
                                               std::chrono::system_clock::time_point now) {
  if (sched.kind == config::Schedule::Kind::Interval) return now + sched.interval;
  if (sched.kind == config::Schedule::Kind::None) return now;
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&t, &local);
  local.tm_hour = sched.hour;
  local.tm_min = sched.minute;
  local.tm_sec = 0;
  local.tm_isdst = -1;
  auto when = std::chrono::system_clock::from_time_t(std::mktime(&local));
  if (when <= now) {
    local.tm_mday += 1;
    local.tm_isdst = -1;
    when = std::chrono::system_clock::from_time_t(std::mktime(&local));
  }
  return when;
}

}  // namespace ferry::run

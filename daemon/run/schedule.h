// When the daemon's next sync run starts, from the watchlist's schedule.
#pragma once

#include <chrono>

#include "config/config.h"

namespace ferry::run {

// Interval: `now` + the interval. Daily "HH:MM": the next such local time strictly
// after `now` (today's if it is still ahead, else tomorrow's; mktime settles DST).
// Kind::None has no next run: `now` is returned and the caller refuses the schedule.
std::chrono::system_clock::time_point next_run(const config::Schedule& sched,
                                               std::chrono::system_clock::time_point now);

}  // namespace ferry::run

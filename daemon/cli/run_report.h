// The summary table of a sync run, for people (run/report.h has what it leaves for machines).
#pragma once

#include "run/report.h"

namespace ferry::cli {

void print_summary(const run::RunSummary& s);

}  // namespace ferry::cli

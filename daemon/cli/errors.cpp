// The CLI's own error lines: "ferry: <command>: <message>" on stderr.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"

namespace ferry::cli {

void print_error(std::string_view command, std::string_view message) {
  if (command.empty()) return fmt::print(stderr, "ferry: {}\n", message);
  fmt::print(stderr, "ferry: {}: {}\n", command, message);
}

int usage_error(std::string_view command, std::string_view message) {
  print_error(command, message);
  return kExitUsage;
}

int run_failed(std::string_view command, std::string_view message) {
  print_error(command, message);
  return kExitSomeFailed;
}

}  // namespace ferry::cli

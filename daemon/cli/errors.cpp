// The CLI's own error lines: "ferry: <command>: <message>", text or JSON like the log.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/logging.h"

namespace ferry::cli {

void print_error(std::string_view command, std::string_view message) {
  if (command.empty()) return write_error_line(fmt::format("ferry: {}", message));
  write_error_line(fmt::format("ferry: {}: {}", command, message));
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

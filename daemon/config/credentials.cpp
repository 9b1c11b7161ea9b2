// Credentials named by a watchlist: the password read from a file or an environment
// variable at the moment it is needed, so the watchlist itself holds no secret.
// Messages name the file or variable and the problem, never the content.
#include <fmt/format.h>

#include <cstdlib>

#include "config/config.h"
#include "config/files.h"
#include "config/yaml_read.h"

namespace ferry::config {

namespace {

constexpr std::uintmax_t kMaxPasswordBytes = 64 * 1024;

// The password without its trailing line ending(s); empty or multi-line is an error.
core::Result<std::string> check_password(std::string secret, std::string_view what) {
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return core::fail(core::ErrorKind::InvalidInput, fmt::format("{} is empty", what));
  if (secret.find_first_of("\r\n") != std::string::npos) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{} holds more than one line (want the password alone)", what));
  }
  return secret;
}

}  // namespace

core::Result<std::pair<std::string, std::string>> resolve_credentials(const CredentialSource& source) {
  std::string secret;
  std::string what;
  if (!source.password_file.empty()) {
    what = fmt::format("password file {}", detail::echo(source.password_file));
    auto text = detail::read_text_file(source.password_file, what, kMaxPasswordBytes);
    if (!text) return core::fail(text.error());
    secret = std::move(*text);
  } else if (!source.password_env.empty()) {
    what = fmt::format("environment variable {}", detail::echo(source.password_env));
    const char* value = std::getenv(source.password_env.c_str());
    if (value == nullptr) return core::fail(core::ErrorKind::NotFound, what + " is not set");
    secret = value;
  } else {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("credentials for {}: neither password_file nor password_env is set",
                                  detail::echo(source.username)));
  }
  auto password = check_password(std::move(secret), what);
  if (!password) return core::fail(password.error());
  return std::pair{source.username, std::move(*password)};
}

}  // namespace ferry::config

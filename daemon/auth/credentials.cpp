// Registry credentials: Basic authorization values and the CredentialStore read from
// a Docker config.json (`auths` only; credsStore/credHelpers are ignored). Keys are
// normalised the way docker matches them, so "https://index.docker.io/v1/" and
// "docker.io" name one registry. Errors name the file and the registry key, never a
// secret or the file's content.
#include <simdjson.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "auth/auth.h"
#include "auth/text.h"
#include "reference/reference.h"

namespace ferry::auth {

namespace {

constexpr std::array<std::string_view, 3> kDockerHubAliases = {
    "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"};
constexpr std::uintmax_t kMaxConfigBytes = 16 * 1024 * 1024;

core::Error config_error(std::string_view origin, std::string_view problem) {
  return core::error(core::ErrorKind::InvalidInput,
                     fmt::format("invalid docker config {}: {}", detail::printable(origin), problem));
}

// A string field: absent or null is "", another type an error.
core::Result<std::string> optional_string(simdjson::dom::object entry, std::string_view field,
                                          std::string_view key, std::string_view origin) {
  simdjson::dom::element e;
  if (entry[field].get(e) != simdjson::SUCCESS || e.is_null()) return std::string();
  std::string_view value;
  if (e.get_string().get(value) != simdjson::SUCCESS) {
    return core::fail(config_error(
        origin, fmt::format("\"{}\" of \"{}\" is not a string", field, detail::printable(key))));
  }
  return std::string(value);
}

// Splits the decoded `auth` field "user:password" (the password may contain ':').
core::Status decode_auth(std::string_view auth, std::string_view key, std::string_view origin,
                         Credentials& c) {
  auto decoded = base64_decode(auth);
  if (!decoded) {
    return core::fail(
        config_error(origin, fmt::format("\"auth\" of \"{}\" is not valid base64", detail::printable(key))));
  }
  auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    return core::fail(config_error(
        origin, fmt::format("\"auth\" of \"{}\" is not base64 of user:password", detail::printable(key))));
  }
  c.username = decoded->substr(0, colon);
  // docker trims NUL padding some old tools left after the password.
  std::string_view password = std::string_view(*decoded).substr(colon + 1);
  while (!password.empty() && password.back() == '\0') password.remove_suffix(1);
  c.password = std::string(password);
  return {};
}

core::Result<Credentials> parse_entry(simdjson::dom::element value, std::string_view key,
                                      std::string_view origin) {
  simdjson::dom::object entry;
  if (value.get_object().get(entry) != simdjson::SUCCESS) {
    return core::fail(
        config_error(origin, fmt::format("entry \"{}\" is not an object", detail::printable(key))));
  }
  Credentials c;
  auto username = optional_string(entry, "username", key, origin);
  auto password = optional_string(entry, "password", key, origin);
  auto identity = optional_string(entry, "identitytoken", key, origin);
  auto auth = optional_string(entry, "auth", key, origin);
  for (auto* r : {&username, &password, &identity, &auth}) {
    if (!*r) return core::fail(std::move(r->error()));
  }
  c.username = std::move(*username);
  c.password = std::move(*password);
  c.identity_token = std::move(*identity);
  if (!auth->empty()) {
    if (auto st = decode_auth(*auth, key, origin, c); !st) return core::fail(std::move(st.error()));
  }
  return c;
}

core::Result<std::string> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return core::fail(core::errno_error("read docker config", path.string(), ec.value()));
  if (size > kMaxConfigBytes) {
    return core::fail(config_error(path.string(), fmt::format("larger than {} bytes", kMaxConfigBytes)));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::fail(core::errno_error("read docker config", path.string(), errno ? errno : EIO));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return core::fail(core::errno_error("read docker config", path.string(), EIO));
  return std::move(buf).str();
}

}  // namespace

std::string basic_authorization(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

std::string normalize_registry_host(std::string_view key_or_url) {
  std::string_view s = key_or_url;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (detail::istarts_with(s, scheme)) {
      s.remove_prefix(scheme.size());
      break;
    }
  }
  s = s.substr(0, s.find('/'));
  std::string host = detail::ascii_lower(s);
  for (std::string_view alias : kDockerHubAliases) {
    if (host == alias) return std::string(reference::kDockerHubDomain);
  }
  return host;
}

core::Result<CredentialStore> CredentialStore::parse(std::string_view json, std::string_view origin) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    return core::fail(config_error(origin, fmt::format("not valid JSON ({})", simdjson::error_message(err))));
  }
  simdjson::dom::object top;
  if (root.get_object().get(top) != simdjson::SUCCESS) {
    return core::fail(config_error(origin, "top level is not an object"));
  }
  CredentialStore store;
  simdjson::dom::element auths_value;
  if (top["auths"].get(auths_value) != simdjson::SUCCESS || auths_value.is_null()) return store;
  simdjson::dom::object auths;
  if (auths_value.get_object().get(auths) != simdjson::SUCCESS) {
    return core::fail(config_error(origin, "\"auths\" is not an object"));
  }
  for (auto [key, value] : auths) {
    auto creds = parse_entry(value, key, origin);
    if (!creds) return core::fail(std::move(creds.error()));
    std::string host = normalize_registry_host(key);
    if (creds->empty() || host.empty()) continue;
    store.by_host_.emplace(std::move(host), std::move(*creds));  // first key for a host wins
  }
  return store;
}

core::Result<CredentialStore> CredentialStore::load_file(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return core::fail(std::move(text.error()));
  return parse(*text, path.string());
}

core::Result<CredentialStore> CredentialStore::load_default() {
  std::filesystem::path path;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
    path = std::filesystem::path(dir) / "config.json";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    path = std::filesystem::path(home) / ".docker" / "config.json";
  } else {
    return CredentialStore{};
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return CredentialStore{};
  return load_file(path);
}

void CredentialStore::set(std::string registry_host, Credentials c) {
  by_host_.insert_or_assign(normalize_registry_host(registry_host), std::move(c));
}

std::optional<Credentials> CredentialStore::lookup(std::string_view registry_host) const {
  auto it = by_host_.find(normalize_registry_host(registry_host));
  if (it == by_host_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ferry::auth

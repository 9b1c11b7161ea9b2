// Reference parsing: split `[domain/]path[:tag][@digest]` into its parts, check each
// part against the distribution grammar by hand (no regex, so every failure can say
// exactly what is wrong), normalise docker.io names, and format the canonical and
// familiar forms. Problems are found by small checkers that return only the problem;
// parse() prefixes the sanitised input.
#include "reference/reference.h"

#include <fmt/format.h>

#include <algorithm>

namespace ferry::reference {

namespace {

using core::ErrorKind;

constexpr std::string_view kLegacyHubDomain = "index.docker.io";
constexpr std::string_view kOfficialNamespace = "library/";
constexpr std::string_view kLocalhost = "localhost";
constexpr std::string_view kDefaultTag = "latest";
constexpr size_t kEchoMaxLength = 128;
constexpr size_t kPortMaxDigits = 5;
constexpr unsigned kPortMax = 65535;
constexpr size_t kImageIdLength = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alnum(char c) { return is_lower_alnum(c) || is_upper(c); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

// User text echoed in a message: control bytes dropped so input cannot forge log
// lines, non-ASCII bytes shown as '?' so the message stays valid UTF-8 (it may end up
// in JSON), and long text cut short.
std::string echo(std::string_view s, size_t max_length = kEchoMaxLength) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (out.size() == max_length) {
      out += "...";
      break;
    }
    out.push_back(u < 0x80 ? c : '?');
  }
  return out;
}

// One offending character, readable whatever it is.
std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (c == ' ') return "space";
  if (u > 0x20 && u < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02x}", u);
}

core::Status problem(std::string text) { return core::fail(ErrorKind::InvalidInput, std::move(text)); }

// Tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
core::Status check_tag(std::string_view tag) {
  if (tag.empty()) return problem("invalid tag: empty after ':'");
  if (tag.size() > kTagMaxLength) {
    return problem(fmt::format("invalid tag: {} characters, at most {}", tag.size(), kTagMaxLength));
  }
  for (char c : tag) {
    if (!is_word(c) && c != '.' && c != '-') {
      return problem(fmt::format("invalid tag \"{}\": {} not allowed (letters, digits, '_', '.', '-')",
                                 echo(tag), describe_char(c)));
    }
  }
  if (!is_word(tag.front())) {
    return problem(fmt::format("invalid tag \"{}\": must start with a letter, digit or '_'", echo(tag)));
  }
  return {};
}

// Path component: [a-z0-9]+ runs joined by exactly one separator: '.', '_', '__' or
// one or more '-'.
bool is_path_component(std::string_view s) {
  size_t i = 0;
  while (true) {
    size_t run = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    if (i == run) return false;
    if (i == s.size()) return true;
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

core::Status check_path_component(std::string_view component) {
  if (component.empty()) return problem("empty path component (leading, trailing or doubled '/')");
  if (is_path_component(component)) return {};
  std::string lower(component);
  std::transform(lower.begin(), lower.end(), lower.begin(), to_lower);
  if (is_path_component(lower)) return problem("repository name must be lowercase");
  for (char c : component) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
      return problem(fmt::format("invalid character {} in repository path component \"{}\"",
                                 describe_char(c), echo(component)));
    }
  }
  return problem(fmt::format(
      "invalid repository path component \"{}\": lowercase letters and digits, starting and ending with "
      "one, separated by '.', '_', '__' or '-'",
      echo(component)));
}

core::Status check_path(std::string_view path) {
  if (path.empty()) return problem("missing repository path after the domain");
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    auto component = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (auto s = check_path_component(component); !s) return s;
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

// Port: 1..65535 in decimal.
core::Status check_port(std::string_view domain, std::string_view port) {
  bool ok = !port.empty() && port.size() <= kPortMaxDigits &&
            std::all_of(port.begin(), port.end(), is_digit);
  if (ok) {
    unsigned value = 0;
    for (char c : port) value = value * 10 + static_cast<unsigned>(c - '0');
    ok = value >= 1 && value <= kPortMax;
  }
  if (ok) return {};
  return problem(fmt::format("invalid port \"{}\" in domain \"{}\": want a number from 1 to {}",
                             echo(port), echo(domain), kPortMax));
}

// Domain label: letters and digits, with '-' only inside.
bool is_domain_label(std::string_view label) {
  return !label.empty() && is_alnum(label.front()) && is_alnum(label.back()) &&
         std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

core::Status check_host_name(std::string_view domain, std::string_view host) {
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    auto label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!is_domain_label(label)) {
      return problem(fmt::format(
          "invalid domain \"{}\": each dot-separated part must be letters and digits, with '-' only inside",
          echo(domain)));
    }
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

// "[hex:hex...]" optionally followed by ":port".
core::Status check_ipv6_domain(std::string_view domain) {
  size_t close = domain.find(']');
  if (close == std::string_view::npos) {
    return problem(fmt::format("invalid domain \"{}\": '[' without ']'", echo(domain)));
  }
  auto inner = domain.substr(1, close - 1);
  auto is_ipv6_char = [](char c) { return is_hex(c) || c == ':'; };
  if (inner.empty() || !std::all_of(inner.begin(), inner.end(), is_ipv6_char)) {
    return problem(fmt::format("invalid IPv6 domain \"{}\": want hex digits and ':' inside '[...]'",
                               echo(domain)));
  }
  auto rest = domain.substr(close + 1);
  if (rest.empty()) return {};
  if (rest.front() != ':') {
    return problem(fmt::format("invalid domain \"{}\": only \":port\" may follow ']'", echo(domain)));
  }
  return check_port(domain, rest.substr(1));
}

// host[:port], where host is a dotted name or a bracketed IPv6 address.
core::Status check_domain(std::string_view domain) {
  if (domain.front() == '[') return check_ipv6_domain(domain);
  size_t colon = domain.find(':');
  if (auto s = check_host_name(domain, domain.substr(0, colon)); !s) return s;
  if (colon == std::string_view::npos) return {};
  return check_port(domain, domain.substr(colon + 1));
}

// The textual parts, not yet checked.
struct Parts {
  std::string_view name;
  std::optional<std::string_view> tag;
  std::optional<std::string_view> digest;
};

Parts split(std::string_view text) {
  Parts parts;
  size_t at = text.find('@');
  parts.name = text.substr(0, at);
  if (at != std::string_view::npos) parts.digest = text.substr(at + 1);
  // The tag's ':' is the first one after the last '/' (a domain's port comes earlier).
  size_t slash = parts.name.rfind('/');
  size_t colon = parts.name.find(':', slash == std::string_view::npos ? 0 : slash + 1);
  if (colon != std::string_view::npos) {
    parts.tag = parts.name.substr(colon + 1);
    parts.name = parts.name.substr(0, colon);
  }
  return parts;
}

// The first component names a registry when it contains '.' or ':' or is localhost.
bool is_domain_component(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || first == kLocalhost;
}

bool is_image_id(std::string_view name) {
  return name.size() == kImageIdLength &&
         std::all_of(name.begin(), name.end(), [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); });
}

// Splits off and checks the domain, checks the path, and applies docker.io rules.
core::Status parse_name(std::string_view name, Reference& ref) {
  if (name.empty()) return problem("missing repository name");
  if (is_image_id(name)) {
    return problem("a 64-character hex string is an image ID, not a repository name");
  }
  size_t slash = name.find('/');
  std::string_view path = name;
  ref.domain = kDockerHubDomain;
  if (slash != std::string_view::npos && is_domain_component(name.substr(0, slash))) {
    auto domain = name.substr(0, slash);
    if (auto s = check_domain(domain); !s) return s;
    ref.domain = domain;
    path = name.substr(slash + 1);
  }
  if (auto s = check_path(path); !s) return s;
  ref.repository = path;
  if (iequals(ref.domain, kDockerHubDomain) || iequals(ref.domain, kLegacyHubDomain)) {
    ref.domain = kDockerHubDomain;
    if (ref.repository.find('/') == std::string::npos) ref.repository.insert(0, kOfficialNamespace);
  }
  if (ref.name().size() > kNameMaxLength) {
    return problem(
        fmt::format("name too long: {} characters, at most {}", ref.name().size(), kNameMaxLength));
  }
  return {};
}

core::Result<Reference> parse_parts(std::string_view text) {
  if (text.empty()) return core::fail(ErrorKind::InvalidInput, "empty reference");
  Parts parts = split(text);
  Reference ref;
  if (auto s = parse_name(parts.name, ref); !s) return core::fail(s.error());
  if (parts.tag) {
    if (auto s = check_tag(*parts.tag); !s) return core::fail(s.error());
    ref.tag = *parts.tag;
  }
  if (parts.digest) {
    if (parts.digest->empty()) return core::fail(ErrorKind::InvalidInput, "empty digest after '@'");
    auto d = digest::Digest::parse(*parts.digest);
    // Any digest we cannot use is bad input here, whatever Digest::parse calls it.
    if (!d) return core::fail(ErrorKind::InvalidInput, echo(d.error().message, d.error().message.size()));
    ref.digest = *d;
  }
  if (!parts.tag && !parts.digest) ref.tag = kDefaultTag;
  return ref;
}

}  // namespace

std::string Reference::api_host() const {
  return domain == kDockerHubDomain ? std::string(kDockerHubApiHost) : domain;
}

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s.append(":").append(tag);
  if (digest) s.append("@").append(digest->str());
  return s;
}

std::string Reference::name() const { return domain + "/" + repository; }

std::string Reference::familiar_name() const {
  if (domain != kDockerHubDomain) return name();
  std::string_view repo = repository;
  size_t slash = repo.find('/');
  // Without its domain the name must not read as another registry's.
  if (slash != std::string_view::npos && is_domain_component(repo.substr(0, slash))) return name();
  bool official = repo.starts_with(kOfficialNamespace) &&
                  repo.find('/', kOfficialNamespace.size()) == std::string_view::npos;
  // library/<64 hex> keeps library/: the bare hex would read as an image ID.
  if (official && !is_image_id(repo.substr(kOfficialNamespace.size()))) {
    return std::string(repo.substr(kOfficialNamespace.size()));
  }
  return repository;
}

std::string Reference::familiar() const {
  if (!tag.empty()) return familiar_name() + ":" + tag;
  if (digest) return familiar_name() + "@" + digest->str();
  return familiar_name();
}

std::string Reference::manifest_ref() const { return digest ? digest->str() : tag; }

std::string Reference::scope(std::string_view actions) const {
  return fmt::format("repository:{}:{}", repository, actions);
}

core::Result<Reference> parse(std::string_view text) {
  auto ref = parse_parts(text);
  if (!ref) ref.error().context(fmt::format("invalid reference \"{}\"", echo(text)));
  return ref;
}

}  // namespace ferry::reference

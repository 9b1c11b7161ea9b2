// WWW-Authenticate parsing (RFC 7235 §4.1 with the list rules of RFC 9110 §5.6.1).
//
// A header value is a comma-separated list of challenges; each is a scheme followed by
// either one token68 or a comma-separated list of name=value auth-params. The same
// comma separates parameters and challenges, so after a comma an element of the form
// `token BWS "="` continues the current challenge and a bare token (or token, space,
// something) starts the next one. Values are tokens or quoted strings (commas and
// backslash escapes allowed inside). Errors name the problem and its byte offset and
// quote at most 100 sanitised bytes of the header.
#include <fmt/format.h>

#include "auth/auth.h"
#include "auth/text.h"

namespace ferry::auth {

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_tchar(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_token68_char(char c) {
  return is_alnum(c) || std::string_view("-._~+/").find(c) != std::string_view::npos;
}
bool is_ws(char c) { return c == ' ' || c == '\t'; }
bool is_ctl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// A read position in the header, and the error constructor that quotes it.
struct Cursor {
  std::string_view s;
  std::size_t pos = 0;

  bool at_end() const { return pos >= s.size(); }
  char peek() const { return at_end() ? '\0' : s[pos]; }
  void skip_ws() {
    while (!at_end() && is_ws(s[pos])) ++pos;
  }
  void skip_ws_and_commas() {
    while (!at_end() && (is_ws(s[pos]) || s[pos] == ',')) ++pos;
  }
  template <class Pred>
  std::string_view take_while(Pred pred) {
    std::size_t start = pos;
    while (!at_end() && pred(s[pos])) ++pos;
    return s.substr(start, pos - start);
  }
  tl::unexpected<core::Error> error(std::string_view problem, std::size_t at) const {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("invalid WWW-Authenticate header \"{}\": {} at offset {}",
                                  detail::printable(s), problem, at));
  }
};

// What follows a comma inside a challenge's parameter list.
enum class NextElement { Param, Challenge };

core::Result<NextElement> classify_element(Cursor& c) {
  Cursor look = c;
  auto name = look.take_while(is_tchar);
  if (name.empty()) return look.error("expected a parameter or an auth scheme", look.pos);
  std::size_t after_name = look.pos;
  look.skip_ws();
  if (look.peek() == '=') return NextElement::Param;
  if (look.at_end() || look.peek() == ',') return NextElement::Challenge;
  if (look.pos > after_name && is_token68_char(look.peek())) return NextElement::Challenge;
  return look.error(fmt::format("missing '=' after parameter \"{}\"", detail::printable(name)),
                    look.pos);
}

// A quoted-string at c.pos (which is '"'), unescaped.
core::Result<std::string> parse_quoted(Cursor& c) {
  std::size_t open = c.pos++;
  std::string out;
  while (!c.at_end()) {
    char ch = c.s[c.pos++];
    if (ch == '"') return out;
    if (ch == '\\') {
      if (c.at_end()) break;
      ch = c.s[c.pos++];
    }
    if (is_ctl(ch) && ch != '\t') return c.error("control character in quoted string", c.pos - 1);
    out.push_back(ch);
  }
  return c.error("unterminated quoted string", open);
}

core::Status parse_param(Cursor& c, Challenge& ch) {
  std::size_t name_pos = c.pos;
  auto name = c.take_while(is_tchar);
  if (name.empty()) return c.error("expected a parameter name", c.pos);
  c.skip_ws();
  if (c.peek() != '=') {
    return c.error(fmt::format("missing '=' after parameter \"{}\"", detail::printable(name)), c.pos);
  }
  ++c.pos;
  c.skip_ws();
  std::string value;
  if (c.peek() == '"') {
    auto quoted = parse_quoted(c);
    if (!quoted) return core::fail(std::move(quoted.error()));
    value = std::move(*quoted);
  } else {
    value = c.take_while(is_tchar);
    if (value.empty()) return c.error("missing value for parameter", c.pos);
  }
  if (!ch.params.emplace(detail::ascii_lower(name), std::move(value)).second) {
    return c.error("duplicate parameter", name_pos);
  }
  return {};
}

// The auth-params of one challenge; stops before the element that starts the next one.
core::Status parse_params(Cursor& c, Challenge& ch) {
  for (;;) {
    if (auto st = parse_param(c, ch); !st) return st;
    c.skip_ws();
    if (c.at_end()) return {};
    if (c.peek() != ',') return c.error("expected ',' after parameter value", c.pos);
    c.skip_ws_and_commas();
    if (c.at_end()) return {};
    auto next = classify_element(c);
    if (!next) return core::fail(std::move(next.error()));
    if (*next == NextElement::Challenge) return {};
  }
}

// A token68 at c.pos when one fills the rest of the list element; else c is unmoved.
bool try_token68(Cursor& c, Challenge& ch) {
  std::size_t start = c.pos;
  if (c.take_while(is_token68_char).empty()) return false;
  while (c.peek() == '=') ++c.pos;
  std::size_t end = c.pos;
  c.skip_ws();
  if (c.at_end() || c.peek() == ',') {
    ch.token68 = std::string(c.s.substr(start, end - start));
    return true;
  }
  c.pos = start;
  return false;
}

core::Result<Challenge> parse_challenge(Cursor& c) {
  auto scheme = c.take_while(is_tchar);
  if (scheme.empty()) return c.error("expected an auth scheme", c.pos);
  Challenge ch{detail::ascii_lower(scheme), {}};
  std::size_t after_scheme = c.pos;
  c.skip_ws();
  if (c.at_end() || c.peek() == ',') return ch;
  if (c.pos == after_scheme) return c.error("expected a space after the auth scheme", c.pos);
  if (try_token68(c, ch)) return ch;
  if (auto st = parse_params(c, ch); !st) return core::fail(std::move(st.error()));
  return ch;
}

}  // namespace

std::string Challenge::param(std::string_view key) const {
  auto it = params.find(detail::ascii_lower(key));
  return it == params.end() ? std::string() : it->second;
}

core::Result<std::vector<Challenge>> parse_challenges(std::string_view header) {
  Cursor c{header};
  std::vector<Challenge> out;
  c.skip_ws_and_commas();
  while (!c.at_end()) {
    auto ch = parse_challenge(c);
    if (!ch) return core::fail(std::move(ch.error()));
    out.push_back(std::move(*ch));
    c.skip_ws_and_commas();
  }
  if (out.empty()) return c.error("no challenge", 0);
  return out;
}

}  // namespace ferry::auth

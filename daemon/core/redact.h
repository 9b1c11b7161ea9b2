// Untrusted text in logs and error messages. URL redaction: signed CDN URLs carry secrets in their
// query strings, so only a few harmless query keys survive; userinfo is dropped.
#pragma once

#include <string>
#include <string_view>

namespace ferry::core {

// "https://user:pw@host/p?scope=x&sig=y" -> "https://host/p?scope=x&sig=REDACTED"
std::string redact_url(std::string_view url);

// Untrusted text made safe for a one-line message: control bytes, DEL and bytes
// that are not UTF-8 as \xNN, at most `max_bytes` bytes, then "...".
std::string printable(std::string_view text, size_t max_bytes = 120);

// True when `text` is UTF-8 by its byte patterns: lead bytes C2..F4, each followed
// by its continuation bytes (overlong three- and four-byte forms are not checked).
bool is_utf8(std::string_view text);

}  // namespace ferry::core

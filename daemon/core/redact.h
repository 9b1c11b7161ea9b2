// URL redaction for logs and error messages: signed CDN URLs carry secrets in their
// query strings, so only a few harmless query keys survive; userinfo is dropped.
#pragma once

#include <string>
#include <string_view>

namespace ferry::core {

// "https://user:pw@host/p?scope=x&sig=y" -> "https://host/p?scope=x&sig=REDACTED"
std::string redact_url(std::string_view url);

}  // namespace ferry::core

// Test helpers: Docker schema1 manifests built the way docker/distribution writes
// them (3-space pretty JSON), unsigned or wrapped as a JWS ("prettyjws") with a
// protected header naming formatLength/formatTail. The signature bytes are fake:
// ferry does not verify them (see daemon/manifest/schema1.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ferry::testing {

inline std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// JSON string literal for test data (quote and backslash escaped; no control bytes expected).
inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// One fsLayers/history pair, top layer first as in the manifest.
struct Schema1Entry {
  std::string blob_sum;  // "sha256:..."
  std::string v1;        // the v1Compatibility JSON
};

// The unsigned manifest (the JWS payload), ending in "\n}" like docker's.
inline std::string schema1_unsigned(const std::string& name, const std::string& tag, const std::string& arch,
                                    const std::vector<Schema1Entry>& entries) {
  std::string out = "{\n   \"schemaVersion\": 1,\n   \"name\": " + json_quote(name) + ",\n   \"tag\": " +
                    json_quote(tag) + ",\n   \"architecture\": " + json_quote(arch) + ",\n   \"fsLayers\": [";
  for (size_t k = 0; k < entries.size(); ++k) {
    out += std::string(k ? "," : "") + "\n      {\n         \"blobSum\": " + json_quote(entries[k].blob_sum) +
           "\n      }";
  }
  out += "\n   ],\n   \"history\": [";
  for (size_t k = 0; k < entries.size(); ++k) {
    out += std::string(k ? "," : "") + "\n      {\n         \"v1Compatibility\": " + json_quote(entries[k].v1) +
           "\n      }";
  }
  return out + "\n   ]\n}";
}

// The protected header a signature carries for `payload` cut at `length` with `tail`.
inline std::string schema1_protected(size_t length, std::string_view tail, std::string_view time) {
  return base64url("{\"formatLength\":" + std::to_string(length) + ",\"formatTail\":\"" + base64url(tail) +
                   "\",\"time\":\"" + std::string(time) + "\"}");
}

// `payload` (ending in "\n}") signed as libtrust does: the payload up to its last
// "\n}", then the signatures, then "\n}". `signers` signatures, each with its own
// (fake) key id and time, all naming the same payload. `protected_override`, when
// not empty, replaces the protected header of the last signature (to lie).
inline std::string schema1_sign(const std::string& payload, int signers = 1,
                                const std::string& protected_override = "") {
  const size_t length = payload.rfind("\n}");
  std::string out = payload.substr(0, length) + ",\n   \"signatures\": [";
  for (int s = 0; s < signers; ++s) {
    std::string prot = schema1_protected(length, payload.substr(length), "2026-12-0" + std::to_string(s + 1) + "T00:00:00Z");
    if (s == signers - 1 && !protected_override.empty()) prot = protected_override;
    out += std::string(s ? "," : "") + "\n      {\n         \"header\": {\"alg\": \"ES256\", \"jwk\": {\"kid\": \"K" +
           std::to_string(s) + "\"}},\n         \"signature\": \"ZmFrZQ\",\n         \"protected\": \"" + prot +
           "\"\n      }";
  }
  return out + "\n   ]\n}";
}

}  // namespace ferry::testing

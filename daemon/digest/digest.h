// Digest: a validated content address, and the streaming sha256 that produces one.
//
// Only `sha256:` followed by exactly 64 lowercase hex digits is accepted, so a Digest
// is always safe to use as a file name (`blobs/sha256/<hex>`): nothing that reaches
// the disk can contain a slash, a dot or an upper-case twin of another blob.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferry::digest {

class Digest {
 public:
  static constexpr std::string_view kSha256Prefix = "sha256:";
  static constexpr size_t kHexLength = 64;

  Digest() = default;
  // Validates `text`; the error names the offending value.
  [[nodiscard]] static core::Result<Digest> parse(std::string_view text);
  // From 32 raw sha256 bytes.
  static Digest from_bytes(const std::array<uint8_t, 32>& bytes);

  const std::string& str() const { return text_; }           // "sha256:<hex>"
  std::string_view hex() const { return std::string_view(text_).substr(kSha256Prefix.size()); }
  std::string_view short_hex() const { return hex().substr(0, 12); }  // for info logs
  bool empty() const { return text_.empty(); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.text_ <=> b.text_; }

 private:
  explicit Digest(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

// Streaming sha256 over OpenSSL EVP (uses SHA-NI where the CPU has it).
// The internal state can be copied, so a prefix hash can be saved and resumed.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Finishes the hash; the object is reset and can be reused.
  Digest finish();
  uint64_t bytes() const { return bytes_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  uint64_t bytes_ = 0;
};

Digest sha256_of(std::string_view data);

// sha256 and size of the file at `path`, streamed through `buffer` (resized to a
// read buffer when empty; pass the same one to hash many files without reallocating).
struct FileHash {
  Digest digest;
  uint64_t size = 0;
};
[[nodiscard]] core::Result<FileHash> sha256_of_file(const std::string& path, std::string& buffer);
// The same for a file already open (read from its current offset to the end);
// `name` only names it in errors.
[[nodiscard]] core::Result<FileHash> sha256_of_fd(int fd, const std::string& name, std::string& buffer);

}  // namespace ferry::digest

template <>
struct std::hash<ferry::digest::Digest> {
  size_t operator()(const ferry::digest::Digest& d) const noexcept {
    return std::hash<std::string>{}(d.str());
  }
};

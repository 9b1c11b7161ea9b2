// Digest validation and the OpenSSL EVP sha256 stream.
#include "digest/digest.h"

#include "core/unique_fd.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace ferry::digest {

namespace {
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string printable(std::string_view s) {
  // Cap and strip control bytes so hostile input cannot forge log lines.
  std::string out;
  for (char c : s.substr(0, 100)) out.push_back((static_cast<unsigned char>(c) < 0x20) ? '?' : c);
  if (s.size() > 100) out += "...";
  return out;
}
}  // namespace

core::Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("invalid digest \"{}\": missing algorithm prefix", printable(text)));
  }
  std::string_view algo = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  if (algo != "sha256") {
    return core::fail(core::ErrorKind::Unsupported,
                      fmt::format("unsupported digest algorithm \"{}\" in \"{}\" (only sha256)",
                                  printable(algo), printable(text)));
  }
  if (hex.size() != kHexLength) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("invalid digest \"{}\": want 64 hex digits, got {}", printable(text),
                                  hex.size()));
  }
  for (char c : hex) {
    if (!is_lower_hex(c)) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("invalid digest \"{}\": not lowercase hex", printable(text)));
    }
  }
  return Digest(std::string(text));
}

Digest Digest::from_bytes(const std::array<uint8_t, 32>& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(kSha256Prefix);
  s.reserve(kSha256Prefix.size() + kHexLength);
  for (uint8_t b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return Digest(std::move(s));
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  Ctx() : md(EVP_MD_CTX_new()) {
    FERRY_CHECK(md != nullptr);
    FERRY_CHECK(EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1);
  }
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  FERRY_CHECK(EVP_DigestUpdate(ctx_->md, data, size) == 1);
  bytes_ += size;
}

Digest Sha256::finish() {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  FERRY_CHECK(EVP_DigestFinal_ex(ctx_->md, out.data(), &len) == 1 && len == 32);
  FERRY_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1);
  bytes_ = 0;
  return Digest::from_bytes(out);
}

Digest sha256_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

core::Result<FileHash> sha256_of_fd(int fd, const std::string& name, std::string& buffer) {
  if (buffer.empty()) buffer.resize(1 << 20);
  Sha256 hasher;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", name, errno));
    if (n == 0) break;
    hasher.update(buffer.data(), static_cast<size_t>(n));
  }
  const uint64_t size = hasher.bytes();
  return FileHash{hasher.finish(), size};
}

core::Result<FileHash> sha256_of_file(const std::string& path, std::string& buffer) {
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return core::fail(core::errno_error("open", path, errno));
  return sha256_of_fd(fd.get(), path, buffer);
}

}  // namespace ferry::digest

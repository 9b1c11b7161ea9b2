// ByteSink: where streamed bytes go (a store ingest, a tar entry, a memory buffer).
//
// Called from the transfer loop's thread only, once per received chunk; it must not
// block on anything but local disk, and it reports failures (a full disk, a digest
// that already went wrong) as an Error so the transfer stops early.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace ferry::core {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Append bytes. An error aborts the transfer that feeds this sink.
  [[nodiscard]] virtual Status write(const char* data, size_t size) = 0;
  // The server ignored our Range request (200 instead of 206): drop everything
  // received so far and start again from byte 0.
  [[nodiscard]] virtual Status restart() = 0;
  // Bytes accepted so far, counting any resumed prefix.
  virtual uint64_t size() const = 0;
};

// A sink into a std::string with a hard cap (manifests, token replies, error bodies).
class StringSink final : public ByteSink {
 public:
  explicit StringSink(uint64_t limit) : limit_(limit) {}
  Status write(const char* data, size_t size) override;
  Status restart() override {
    data_.clear();
    return {};
  }
  uint64_t size() const override { return data_.size(); }
  const std::string& data() const { return data_; }
  std::string take() { return std::move(data_); }

 private:
  uint64_t limit_;
  std::string data_;
};

}  // namespace ferry::core

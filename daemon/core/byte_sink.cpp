// StringSink: bounded in-memory body collection.
#include "core/byte_sink.h"

#include <fmt/format.h>

namespace ferry::core {

Status StringSink::write(const char* data, size_t size) {
  if (data_.size() + size > limit_) {
    return fail(ErrorKind::SizeMismatch, fmt::format("body larger than the {} byte limit", limit_));
  }
  data_.append(data, size);
  return {};
}

}  // namespace ferry::core

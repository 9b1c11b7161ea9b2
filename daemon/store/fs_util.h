// Small POSIX file helpers for crash-safe writes: fsync of files and directories,
// and write-to-temp + fsync + rename for whole-file replacement.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/error.h"

namespace ferry::store {

// fsync the directory so a rename inside it survives a crash.
[[nodiscard]] core::Status fsync_dir(const std::filesystem::path& dir);

// Write all of `data` to fd (at `offset` with pwrite when >= 0, else at the file
// position); EINTR retried; errors name `path`.
[[nodiscard]] core::Status write_all(int fd, const char* data, size_t size,
                                     const std::filesystem::path& path, int64_t offset = -1);

// Read `size` bytes from fd at `offset`, or up to the end of the file when it
// comes first; EINTR retried; errors name `path`. Returns the bytes read: fewer
// than `size` only at the end of the file, which the caller judges.
[[nodiscard]] core::Result<size_t> pread_full(int fd, char* dst, size_t size, uint64_t offset,
                                              const std::filesystem::path& path);

// Replace `path` atomically with `content`: temp file in the same directory, fsync,
// rename, fsync the directory. On failure the old file is untouched, no temp remains.
[[nodiscard]] core::Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Read a whole (small) file; refuses files larger than `max_size`.
[[nodiscard]] core::Result<std::string> read_file(const std::filesystem::path& path, uint64_t max_size);

}  // namespace ferry::store

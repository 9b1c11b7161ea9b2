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

// Opens `path` for a file the store or an export tree owns, never following a
// symbolic link in its last component (O_NOFOLLOW) and never blocking on a FIFO or
// device (O_NONBLOCK until the fstat): anything but a regular file is InvalidInput
// naming the path ("is a symbolic link; ferry does not follow links here",
// "is not a regular file"). `flags` are open(2) flags (O_RDWR | O_CREAT, ...);
// O_CLOEXEC is added. The caller owns the returned fd.
[[nodiscard]] core::Result<int> open_regular(const std::filesystem::path& path, int flags, unsigned mode = 0644);

// For a file the user named on the command line (an archive to verify or import):
// a link the user gave is followed, but anything that is not a regular file (a
// FIFO, a device, a directory) is InvalidInput at once, without blocking in open().
[[nodiscard]] core::Result<int> open_input_file(const std::filesystem::path& path);

// A directory the store uses (its root, blobs/sha256, ingest, state): created mode
// 0755 when absent; an existing entry that is a symbolic link or not a directory is
// InvalidInput, one writable by other users (o+w, sticky or not) is Denied: the
// store belongs to the user that runs ferry, and nobody else may add names to it.
[[nodiscard]] core::Status ensure_real_dir(const std::filesystem::path& path);

// Read a whole (small) file through open_regular; refuses files larger than `max_size`.
[[nodiscard]] core::Result<std::string> read_file(const std::filesystem::path& path, uint64_t max_size);

}  // namespace ferry::store

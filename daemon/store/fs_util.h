// Small POSIX file helpers for crash-safe writes: fsync of files and directories,
// and write-to-temp + fsync + rename for whole-file replacement.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

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
// The same for `name` inside the directory open as `dir` (see open_regular_at).
[[nodiscard]] core::Status write_file_atomic_at(int dir, std::string_view name, std::string_view content,
                                                const std::filesystem::path& shown);

// fsync the directory open as `dir`; `shown` names it in errors.
[[nodiscard]] core::Status fsync_dir_fd(int dir, const std::filesystem::path& shown);

// Opens `path` for a file the store or an export tree owns, never following a
// symbolic link in its last component (O_NOFOLLOW) and never blocking on a FIFO or
// device (O_NONBLOCK until the fstat): anything but a regular file is InvalidInput
// naming the path ("is a symbolic link; ferry does not follow links here",
// "is not a regular file"). `flags` are open(2) flags (O_RDWR | O_CREAT, ...);
// O_CLOEXEC is added.
[[nodiscard]] core::Result<core::UniqueFd> open_regular(const std::filesystem::path& path, int flags,
                                                        unsigned mode = 0644);
// The same for `name` (one component, no '/') inside the directory open as `dir`:
// how the store opens everything, so a directory swapped for a link after the
// store was opened is never walked through. `shown` names the file in errors.
[[nodiscard]] core::Result<core::UniqueFd> open_regular_at(int dir, std::string_view name, int flags,
                                                           const std::filesystem::path& shown, unsigned mode = 0644);

// For a file the user named on the command line (an archive to verify or import):
// a link the user gave is followed, but anything that is not a regular file (a
// FIFO, a device, a directory) is InvalidInput at once, without blocking in open().
[[nodiscard]] core::Result<core::UniqueFd> open_input_file(const std::filesystem::path& path);

// A directory the store uses (its root, blobs/sha256, ingest, state): created mode
// 0755 when absent; an existing entry that is a symbolic link or not a directory is
// InvalidInput, one writable by other users (o+w, sticky or not) is Denied: the
// store belongs to the user that runs ferry, and nobody else may add names to it.
[[nodiscard]] core::Status ensure_real_dir(const std::filesystem::path& path);
// An existing directory at `path` (its last component not a link), opened and
// judged as ensure_real_dir judges it.
[[nodiscard]] core::Result<core::UniqueFd> open_real_dir(const std::filesystem::path& path);
// The same for `name` inside the directory open as `parent`, made when absent and
// `create`; returns the directory opened (O_DIRECTORY | O_NOFOLLOW), judged on that
// descriptor, so what is checked is what is used.
[[nodiscard]] core::Result<core::UniqueFd> open_real_dir_at(int parent, std::string_view name,
                                                            const std::filesystem::path& shown, bool create);

// Read a whole (small) file through open_regular; refuses files larger than `max_size`.
[[nodiscard]] core::Result<std::string> read_file(const std::filesystem::path& path, uint64_t max_size);
// The same for `name` inside the directory open as `dir`.
[[nodiscard]] core::Result<std::string> read_file_at(int dir, std::string_view name, uint64_t max_size,
                                                     const std::filesystem::path& shown);

// One entry of a directory, as lstat sees it (links are not followed).
struct DirEntry {
  std::string name;
  enum class Type { Regular, Directory, Link, Other } type = Type::Other;
  uint64_t size = 0;  // for regular files
  std::chrono::system_clock::time_point mtime;
};
// The entries of the directory open as `dir` (not "." or ".."), in no order.
[[nodiscard]] core::Result<std::vector<DirEntry>> list_dir(int dir, const std::filesystem::path& shown);

}  // namespace ferry::store

// Receipt: the list of blobs one side of an air gap holds, so the other side can
// send only what is missing.
//
// The offline side writes one after `ferry verify`, `ferry import` or `ferry push`;
// the online side reads it for `ferry export --since RECEIPT`. The file is JSON:
//
//   {"ferryReceipt":1,"created":"2026-11-26T23:00:00Z","source":"registry 10.0.0.5:5000/mirror",
//    "blobs":["sha256:…", …]}
//
// Digests are validated on reading (a receipt travels by hand and is input like any
// other); blobs are written sorted and unique, so equal holdings give equal files.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "core/error.h"
#include "digest/digest.h"
#include "store/store.h"

namespace ferry::store {

inline constexpr int kReceiptVersion = 1;
inline constexpr uint64_t kMaxReceiptSize = 256ull << 20;  // ~3 million digests

struct Receipt {
  std::string created;  // RFC 3339 UTC; filled by write_receipt when empty
  std::string source;   // what holds the blobs, for people: a store path, a registry/repo
  std::set<digest::Digest> blobs;
  std::optional<digest::Digest> file_sha256;  // read_receipt: the file's own digest, as read
};

// Replace `path` atomically with `receipt` as JSON.
[[nodiscard]] core::Status write_receipt(const std::filesystem::path& path, const Receipt& receipt);

// Read and validate a receipt. InvalidInput names the file and what is wrong (not
// JSON, another version, a malformed digest); NotFound when it does not exist.
[[nodiscard]] core::Result<Receipt> read_receipt(const std::filesystem::path& path);

// Every blob in the store's blobs/sha256 whose name is a valid digest (temporary
// files are skipped). `source` is set to the store's path.
[[nodiscard]] core::Result<Receipt> receipt_of_store(const Store& store);

}  // namespace ferry::store

// Receipt: reading, writing and taking the blob list of a store.
#include "store/receipt.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/fs_util.h"

namespace ferry::store {

namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

core::Error bad(const std::filesystem::path& path, std::string_view what) {
  return core::error(core::ErrorKind::InvalidInput, fmt::format("receipt {}: {}", path.string(), what));
}

}  // namespace

core::Status write_receipt(const std::filesystem::path& path, const Receipt& receipt) {
  nlohmann::json blobs = nlohmann::json::array();
  for (const auto& d : receipt.blobs) blobs.push_back(d.str());
  nlohmann::json j{{"ferryReceipt", kReceiptVersion},
                   {"created", receipt.created.empty() ? utc_now() : receipt.created},
                   {"source", receipt.source},
                   {"blobs", std::move(blobs)}};
  return write_file_atomic(path, j.dump() + "\n");
}

core::Result<Receipt> read_receipt(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxReceiptSize);
  if (!text) return core::fail(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return core::fail(bad(path, "not a JSON object"));
  auto version = j.find("ferryReceipt");
  if (version == j.end() || !version->is_number_integer())
    return core::fail(bad(path, "no \"ferryReceipt\" version (is this a ferry receipt?)"));
  if (*version != kReceiptVersion)
    return core::fail(bad(path, fmt::format("version {} is not supported (this ferry reads {})",
                                            version->dump(), kReceiptVersion)));
  Receipt r;
  r.file_sha256 = digest::sha256_of(*text);
  if (auto c = j.find("created"); c != j.end() && c->is_string()) r.created = c->get<std::string>();
  if (auto s = j.find("source"); s != j.end() && s->is_string()) r.source = s->get<std::string>();
  auto blobs = j.find("blobs");
  if (blobs == j.end() || !blobs->is_array()) return core::fail(bad(path, "\"blobs\" must be an array of digests"));
  for (size_t i = 0; i < blobs->size(); ++i) {
    const auto& b = (*blobs)[i];
    if (!b.is_string()) return core::fail(bad(path, fmt::format("blobs[{}] is not a string", i)));
    auto d = digest::Digest::parse(b.get<std::string>());
    if (!d) return core::fail(bad(path, fmt::format("blobs[{}]: {}", i, d.error().message)));
    r.blobs.insert(std::move(*d));
  }
  return r;
}

core::Result<Receipt> receipt_of_store(const Store& store) {
  Receipt r;
  r.source = store.root().string();
  auto entries = store.list(Area::Blobs);
  if (!entries) return core::fail(entries.error());
  for (const auto& e : *entries) {
    if (e.type != DirEntry::Type::Regular) continue;
    auto d = digest::Digest::parse(std::string(digest::Digest::kSha256Prefix) + e.name);
    if (d) r.blobs.insert(std::move(*d));
  }
  return r;
}

}  // namespace ferry::store

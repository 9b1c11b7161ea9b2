// `ferry import SRC [--store DIR] [--receipt OUT]`: images carried across an air
// gap into the store, without network.
//
// SRC is a bundle (full or delta, from `ferry export --bundle`), any docker-archive
// or oci-archive tarball (ferry's, docker save's, skopeo's; one without index.json
// gets a new OCI manifest per image), or an export directory (SHA256SUMS checked first, then
// every *.tar). Every tarball is checked whole before anything of it is imported;
// blobs enter the store only through its verified ingest; a delta bundle needs the
// layers it left out to be in the store already (each missing one is named).
// index.json gets the references last, once every blob is in. --receipt writes
// the blobs the store now holds, for `ferry export --since` on the online side.
// Exit codes: 0 imported, 1 something did not verify or is missing (the store
// then holds at most verified blobs, no new references), 2 usage.
#include <filesystem>

#include <fmt/format.h>

#include "airgap/import.h"
#include "cli/commands.h"
#include "store/lock.h"
#include "store/receipt.h"
#include "store/store.h"

namespace ferry::cli {

namespace fs = std::filesystem;

void add_import_options(CLI::App& cmd, ImportArgs& a) {
  cmd.add_option("source", a.source, "bundle, tarball or export directory")->required();
  cmd.add_option("--store", a.store, "store directory (default ~/.local/share/ferry/store)");
  cmd.add_option("--receipt", a.receipt, "afterwards, write the blobs the store holds here (for ferry export --since)");
}

core::Result<std::vector<std::string>> import_and_print(const fs::path& src, store::Store& store) {
  std::vector<std::string> problems;
  auto imported = airgap::import_source(src, store, problems);
  for (const auto& p : problems) print_error("import", p);
  if (!imported) return core::fail(imported.error());
  for (const auto& r : imported->references) {
    fmt::print("imported {} ({} manifest{})\n", r.reference, r.manifests, r.manifests == 1 ? "" : "s");
  }
  fmt::print("import: {}: {} tarball{}, {} blobs added ({} bytes), {} already present, {} references\n",
             src.string(), imported->tarballs, imported->tarballs == 1 ? "" : "s", imported->blobs_added,
             imported->bytes_added, imported->blobs_present, imported->references.size());
  return imported->names();
}

int run_import(const ImportArgs& a) {
  auto failed = [](const std::string& message) { return run_failed("import", message); };
  std::error_code ec;
  if (!fs::exists(a.source, ec)) return usage_error("import", a.source + ": no such file or directory");
  auto store = store::Store::open(a.store.empty() ? default_store_dir() : a.store, true);
  if (!store) return failed(store.error().message);
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return failed(lock.error().message);
  auto imported = import_and_print(a.source, *store);
  if (!imported) return failed(imported.error().message);
  if (!a.receipt.empty()) {
    auto receipt = store::receipt_of_store(*store);
    if (!receipt) return failed(receipt.error().message);
    if (auto st = store::write_receipt(a.receipt, *receipt); !st) return failed(st.error().message);
  }
  return kExitOk;
}

}  // namespace ferry::cli

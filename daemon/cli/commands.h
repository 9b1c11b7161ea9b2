// Subcommands of the ferry CLI: options and the code that runs them.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.h"
#include "config/config.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/executor.h"
#include "http/engine.h"
#include "sync/pull.h"

namespace ferry::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitSomeFailed = 1;
inline constexpr int kExitUsage = 2;

// The CLI's own error lines, one format for every command: "ferry: <command>: <message>"
// on stderr ("ferry: <message>" for an empty command, before one is known); under
// --log-format json one JSON object per line instead (write_error_line).
void print_error(std::string_view command, std::string_view message);

// print_error, then kExitUsage: for usage and configuration errors.
int usage_error(std::string_view command, std::string_view message);

// print_error, then kExitSomeFailed: for a run that failed.
int run_failed(std::string_view command, std::string_view message);

struct PullArgs {
  std::vector<std::string> refs;
  std::string output;
  std::string format = "docker";
  bool uncompressed = false;
  bool keep_zstd = false;  // docker format: zstd layers as fetched (else written as plain tars)
  std::string store;
  std::string platform = "linux/amd64";
  bool all_platforms = false;
  bool referrers = false;
  int concurrency = 8;
  std::vector<std::string> insecure_registries;
  std::string username;
  bool password_stdin = false;
  int max_attempts = 0;   // 0: registry::RetryPolicy's default
  std::string deadline;   // "" = none; config::parse_duration syntax
  int segments = config::kDefaultSegments;  // parallel Range segments for a big blob; 1 = never
  std::string foreign_layers = "fetch";      // or "refuse"
};

struct SyncArgs {
  std::string config = "/etc/ferry/watchlist.yaml";
  bool once = false;
  bool check = false;
  std::string store;
  std::string export_dir;
  std::string metrics;
  int max_attempts = 0;   // 0: the watchlist's (retry.max_attempts, per registry)
  std::string deadline;   // "" = the watchlist's retry.deadline; "none" = no limit
  int segments = 0;       // 0: the watchlist's `segments`
};

void add_sync_options(CLI::App& cmd, SyncArgs& args);
int run_sync(const SyncArgs& args, http::Engine& engine);

void add_pull_options(CLI::App& cmd, PullArgs& args);
int run_pull(const PullArgs& args, http::Engine& engine);

struct GcArgs {
  std::string config = "/etc/ferry/watchlist.yaml";
  std::string store;
  bool dry_run = false;
};

void add_gc_options(CLI::App& cmd, GcArgs& args);
int run_gc(const GcArgs& args);

struct VerifyArgs {
  std::string store;    // the store to check (default: default_store_dir())
  std::string target;   // an export directory or a tarball instead
  std::string receipt;  // write the blobs verified good here
  bool quick = false;   // hashes and sizes only: compressed layers are not decoded (diff_ids unchecked)
};

void add_verify_options(CLI::App& cmd, VerifyArgs& args);
int run_verify(const VerifyArgs& args);

struct PushArgs {
  std::string from;               // an export directory, bundle or tarball imported first
  std::vector<std::string> args;  // REF... (with --to), or REF DEST
  std::string to;                 // REGISTRY[/PREFIX]
  bool all = false;
  std::string store;
  int concurrency = 8;
  int chunk_mib = 32;
  std::vector<std::string> insecure_registries;
  std::string username;
  bool password_stdin = false;
  std::string receipt;
  std::string deadline;  // "" = none; config::parse_duration syntax
};

void add_push_options(CLI::App& cmd, PushArgs& args);
int run_push(const PushArgs& args, http::Engine& engine);

// --max-attempts N, --deadline DURATION and --segments N, shared by pull and sync.
void add_retry_options(CLI::App& cmd, int& max_attempts, std::string& deadline, int& segments);

// Sets opts.deadline from `text` (a --deadline value) or else `fallback`; a bad
// text is an InvalidInput error naming --deadline.
[[nodiscard]] core::Status apply_deadline(const std::string& text, std::optional<std::chrono::seconds> fallback,
                                          sync::PullOptions& opts);

struct ExportArgs {
  std::string config;  // watchlist (optional)
  std::string store;
  std::string output;
  std::string format = "docker";
  std::string bundle;  // one docker-load tarball of every image instead of a directory
  std::string since;   // a receipt: leave out the layers it lists (delta bundle)
  bool keep_zstd = false;  // docker tarballs: zstd layers as fetched (else written as plain tars)
  std::vector<std::string> refs;
};

void add_export_options(CLI::App& cmd, ExportArgs& args);
int run_export(const ExportArgs& args, core::Executor& executor);

struct ImportArgs {
  std::string source;   // bundle, tarball or export directory
  std::string store;
  std::string receipt;  // write the store's blobs here afterwards
};

void add_import_options(CLI::App& cmd, ImportArgs& args);
int run_import(const ImportArgs& args);

// airgap::import_source, printing its problems and what it imported (import and
// push --from). Returns the references recorded in index.json.
[[nodiscard]] core::Result<std::vector<std::string>> import_and_print(const std::filesystem::path& src,
                                                                      store::Store& store);

// --username and --password-stdin (pull, push) go together: nullopt when neither is
// given, else the user with one line of `in` as the password (a trailing \r dropped).
// One missing, or an empty password, is an InvalidInput error naming the flag.
[[nodiscard]] core::Result<std::optional<auth::Credentials>> login_from_flags(const std::string& username,
                                                                              bool password_stdin, std::istream& in);

// The final check of an output a command names, before it may exit 0: `out` exists,
// is a non-empty regular file that passes the archive check of `ferry verify` and is
// of `format` ("docker": a docker-archive, "oci-archive"), or for "oci" a layout
// directory whose index.json names manifests present under blobs/sha256. The error
// names the path and the first thing wrong.
[[nodiscard]] core::Status check_output(const std::filesystem::path& out, std::string_view format);

// Removes an output that check_output refused (a file, or the layout directory the
// command wrote), so a bad file is never left behind to be carried across the gap.
void discard_output(const std::filesystem::path& out);

// ~/.local/share/ferry/store (or $XDG_DATA_HOME/ferry/store).
std::string default_store_dir();

}  // namespace ferry::cli

// Watchlist: the YAML file that says which images ferry mirrors, where, and when.
//
// load() reads a watchlist file and parse() a YAML text into plain values: the store
// and export directories, the schedule, the concurrency limits, the default
// platforms, the retry budget and run deadline, per-registry settings (TLS,
// credentials, concurrency, retry budget) and the list of
// images, one ImageEntry per reference with references normalised
// (`ubuntu:24.04` -> docker.io/library/ubuntu:24.04). Every problem is an error of
// kind InvalidInput (NotFound for a missing file) whose message is one line
// `FILE:LINE:COLUMN: message` naming the key or value at fault. Secrets never live in
// the watchlist: credentials name a password file or an environment variable, read
// by resolve_credentials() only when needed. yaml-cpp stays inside this module.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "manifest/manifest.h"
#include "reference/reference.h"

namespace ferry::config {

inline constexpr int kDefaultConcurrency = 8;
inline constexpr int kMaxConcurrency = 256;        // for `concurrency`, top level and per registry
inline constexpr int kDefaultSegments = 4;         // Range segments for one big blob
inline constexpr int kMaxSegments = 16;
inline constexpr std::chrono::seconds kMinInterval{1};
inline constexpr std::chrono::seconds kMaxInterval{365 * 24 * 3600};
inline constexpr int kDefaultMaxAttempts = 5;      // per request, first try included (registry::RetryPolicy)
// A sync run with no `deadline:` still ends: a nightly job must not run into the
// next night's, and a registry that stalls forever must not hold the store lock
// forever (#13). `deadline: none` turns it off.
inline constexpr std::chrono::seconds kDefaultSyncDeadline{23 * 3600};
inline constexpr int kMaxMaxAttempts = 100;        // beyond this a dead registry holds a run for hours
inline constexpr std::uintmax_t kMaxWatchlistBytes = 4 * 1024 * 1024;  // larger files are refused

// Where a password comes from: exactly one of password_file and password_env is set.
struct CredentialSource {
  std::string username;
  std::string password_file;  // absolute (resolved against the watchlist's directory)
  std::string password_env;   // environment variable name

  friend bool operator==(const CredentialSource&, const CredentialSource&) = default;
};

struct RegistrySettings {
  std::string host;      // normalised key: "docker.io", "127.0.0.1:5000", lowercase
  bool insecure = false; // like dockerd's insecure-registries: TLS is not verified / plain HTTP allowed
  std::string ca_file;   // absolute; "" = system trust store
  std::optional<CredentialSource> credentials;
  int concurrency = 0;   // 0 = no per-registry cap
  int max_attempts = 0;  // `retry: {max_attempts: N}`; 0 = the watchlist's retry.max_attempts

  friend bool operator==(const RegistrySettings&, const RegistrySettings&) = default;
};

struct Schedule {
  enum class Kind { None, Daily, Interval };
  Kind kind = Kind::None;
  int hour = 0;    // Daily: local time
  int minute = 0;
  std::chrono::seconds interval{0};  // Interval

  // The watchlist syntax, which parse_schedule() reads back: "02:00", "every 6h",
  // "every 90m" (the largest unit that divides the interval), "none".
  std::string str() const;
  friend bool operator==(const Schedule&, const Schedule&) = default;
};

// "HH:MM" (daily, local time; H or HH, 00:00..23:59), "every N<unit>" with units
// s, m, h, d, combinable ("every 1h30m"), between kMinInterval and kMaxInterval, or
// "none". Error: `invalid schedule "...": ...` with the accepted forms.
[[nodiscard]] core::Result<Schedule> parse_schedule(std::string_view text);

// "90s", "2m", "1h30m", "1d": numbers each followed by a unit s, m, h or d, summed,
// between kMinInterval and kMaxInterval. Error: `invalid duration "...": why`.
[[nodiscard]] core::Result<std::chrono::seconds> parse_duration(std::string_view text);
// The same syntax back, largest units first: 5400s -> "1h30m", 120s -> "2m".
std::string format_duration(std::chrono::seconds d);

// The watchlist's `retry: {max_attempts: N, deadline: 2h}`.
struct RetrySettings {
  int max_attempts = kDefaultMaxAttempts;      // per request; a registry's own value wins
  std::optional<std::chrono::seconds> deadline = kDefaultSyncDeadline;  // the whole sync run; nullopt: `none`
  // Average bytes/s below which one blob download gives up (its time cap, see
  // registry::RetryPolicy); nullopt: the default; 0: no cap.
  std::optional<uint64_t> blob_min_rate;

  friend bool operator==(const RetrySettings&, const RetrySettings&) = default;
};

struct ImageEntry {
  reference::Reference ref;                    // normalised; tag "latest" when none given
  std::vector<manifest::Platform> platforms;   // empty = the watchlist's default
  bool all_platforms = false;                  // mirror every platform of an index
  bool referrers = false;                      // `referrers: true`: signatures, SBOMs, attestations too
  int line = 0;                                // 1-based line of the entry (or its tag) in the file

  friend bool operator==(const ImageEntry&, const ImageEntry&) = default;
};

// `mirror_to`: the registry `ferry sync` pushes every mirrored image to, under an
// optional path prefix (docker.io/library/ubuntu:24.04 → REGISTRY/PREFIX/library/ubuntu:24.04).
// TLS, credentials and a concurrency cap for that host come from `registries:`.
struct MirrorTarget {
  std::string registry;  // host[:port], lowercase
  std::string prefix;    // "" or "a/b"
  std::string str() const { return prefix.empty() ? registry : registry + "/" + prefix; }

  friend bool operator==(const MirrorTarget&, const MirrorTarget&) = default;
};

struct Watchlist {
  std::filesystem::path source;  // absolute path for load(); the origin for parse()
  std::string store;             // absolute; "" when not given (the caller's default applies)
  std::string export_dir;        // absolute; "" when not given
  Schedule schedule;             // Kind::None when not given
  int concurrency = kDefaultConcurrency;  // transfers in flight across all registries
  int segments = kDefaultSegments;        // parallel Range segments for a big blob; 1 = never
  bool fetch_foreign = true;              // `foreign_layers: fetch` (default) or `refuse`
  std::vector<manifest::Platform> platforms{{"linux", "amd64", "", ""}};
  RetrySettings retry;
  std::map<std::string, RegistrySettings> registries;  // by normalised host
  std::vector<ImageEntry> images;                      // file order, tags expanded
  std::optional<MirrorTarget> mirror_to;               // push mirrored images here after each run
};

// Reads and parses `file`; relative paths inside are resolved against the file's
// directory, and messages are prefixed with `file` as given.
[[nodiscard]] core::Result<Watchlist> load(const std::filesystem::path& file);

// Parses YAML text. `origin` names it in messages (and becomes Watchlist::source);
// relative paths are resolved against `base_dir`, or the current directory when it
// is empty.
[[nodiscard]] core::Result<Watchlist> parse(std::string_view yaml, const std::string& origin,
                                            const std::filesystem::path& base_dir = {});

// {username, password}: the password read from password_file (trailing newlines
// stripped) or from the environment variable password_env. An unreadable, empty or
// multi-line password is an error naming the file or variable, never the secret.
[[nodiscard]] core::Result<std::pair<std::string, std::string>> resolve_credentials(const CredentialSource& source);

// The settings for a registry domain (as in Reference::domain; compared
// case-insensitively, the docker.io aliases index.docker.io, registry-1.docker.io
// and registry.hub.docker.com included), or nullptr.
const RegistrySettings* find_registry(const Watchlist& watchlist, std::string_view domain);

// The registry key form of a domain: lowercase, docker.io aliases folded to docker.io.
std::string normalize_host(std::string_view domain);

// The platforms to mirror for `entry`: its own, else the watchlist's default; empty
// when the entry asks for all platforms.
std::vector<manifest::Platform> platforms_for(const Watchlist& watchlist, const ImageEntry& entry);

}  // namespace ferry::config

// `ferry pull REF... [-o OUT]`: pull into the store, then export what was asked.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/auth.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "config/config.h"
#include "config/registry_options.h"
#include "export/export.h"
#include "store/image_view.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "store/lock.h"
#include "store/store.h"
#include "sync/pull.h"

namespace ferry::cli {

namespace fs = std::filesystem;

std::string default_store_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/ferry/store";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/ferry/store";
}

void add_pull_options(CLI::App& cmd, PullArgs& a) {
  cmd.add_option("refs", a.refs, "image references, e.g. ubuntu:24.04 or host:5000/ns/app@sha256:...")
      ->required();
  cmd.add_option("-o,--output", a.output, "write the images here: a tarball, or a directory with --format oci");
  cmd.add_option("--format", a.format, "docker (docker-load tarball), oci (layout directory), oci-archive")
      ->check(CLI::IsMember({"docker", "oci", "oci-archive"}));
  cmd.add_flag("--uncompressed", a.uncompressed, "docker format: write plain tar layers");
  cmd.add_flag("--keep-zstd", a.keep_zstd,
               "docker format: write zstd layers as fetched (default: as plain tars, which Docker before 23 needs)");
  cmd.add_option("--store", a.store, "content store directory (default ~/.local/share/ferry/store)");
  cmd.add_option("--platform", a.platform, "os/arch[/variant] to pick from multi-arch images");
  cmd.add_flag("--all-platforms", a.all_platforms, "pull every platform of multi-arch images");
  cmd.add_flag("--referrers", a.referrers,
               "also pull each image's referrers (signatures, SBOMs, attestations: the OCI referrers API, "
               "its sha256-<hex> tag fallback, cosign's .sig/.att/.sbom tags)");
  cmd.add_option("--concurrency", a.concurrency, "blob transfers in flight")->check(CLI::Range(1, 256));
  cmd.add_option("--insecure-registry", a.insecure_registries,
                 "HOST[:PORT] that may be reached over plain HTTP or unverified TLS");
  cmd.add_option("--username", a.username, "registry user for the references' registries");
  cmd.add_flag("--password-stdin", a.password_stdin, "read the password from standard input");
  cmd.add_option("--foreign-layers", a.foreign_layers,
                 "fetch: foreign (non-distributable) layers from their URLs into the store (https, never with "
                 "credentials); refuse: fail an image that has one")
      ->check(CLI::IsMember({"fetch", "refuse"}))
      ->capture_default_str();
  add_retry_options(cmd, a.max_attempts, a.deadline, a.segments);
}

void add_retry_options(CLI::App& cmd, int& max_attempts, std::string& deadline, int& segments) {
  cmd.add_option("--segments", segments,
                 "fetch a blob of 64 MiB or more as up to N parallel Range requests when slots are free "
                 "(1: never; default 4, for sync the watchlist's `segments`)")
      ->check(CLI::Range(1, config::kMaxSegments));
  cmd.add_option("--max-attempts", max_attempts, "attempts per request, the first included (default 5)")
      ->check(CLI::Range(1, config::kMaxMaxAttempts));
  cmd.add_option("--deadline", deadline,
                 "stop the run after this long (e.g. 90s, 2h, 1h30m); unfinished images fail, partials are kept");
}

core::Status apply_deadline(const std::string& text, std::optional<std::chrono::seconds> fallback,
                            sync::PullOptions& opts) {
  if (!text.empty()) {
    auto d = config::parse_duration(text);
    if (!d) return core::fail(d.error().context("--deadline"));
    fallback = *d;
  }
  if (!fallback) return {};
  opts.deadline = *fallback;
  opts.deadline_text = config::format_duration(*fallback);
  return {};
}

core::Result<std::optional<auth::Credentials>> login_from_flags(const std::string& username, bool password_stdin,
                                                                std::istream& in) {
  if (username.empty() && !password_stdin) return std::optional<auth::Credentials>();
  if (!password_stdin) {
    return core::fail(core::ErrorKind::InvalidInput,
                      "--username needs --password-stdin (the password is read from standard input)");
  }
  if (username.empty()) return core::fail(core::ErrorKind::InvalidInput, "--password-stdin needs --username");
  auth::Credentials c{username, {}, {}};
  std::getline(in, c.password);
  if (!c.password.empty() && c.password.back() == '\r') c.password.pop_back();
  if (c.password.empty()) {
    return core::fail(core::ErrorKind::InvalidInput, "--password-stdin: standard input holds no password");
  }
  return std::optional<auth::Credentials>(std::move(c));
}

namespace {

int usage(std::string_view msg) { return usage_error("pull", msg); }

// What an export of `img` takes: for an OCI output, the reference's index when the
// store holds all of it (its digest then crosses the gap), else its platform images.
std::vector<exporter::ExportImage> export_list(const PullArgs& a, const store::Store& store,
                                               const sync::PulledImage& img) {
  std::vector<exporter::ExportImage> out;
  const bool oci = a.format != "docker";
  if (oci && img.entries.size() == 1 && manifest::is_index_type(img.entries.front().media_type)) {
    auto tree = store::read_index_tree(store, img.entries.front());
    if (tree && tree->complete) return {{img.ref, img.entries.front()}};
    spdlog::debug("oci export without the registry's index ref={} index={} reason={}", img.ref.str(),
                  img.digest.str(), tree ? "the store lacks some of its manifests" : tree.error().message);
  } else if (oci && img.entries.size() >= 1 && img.entries.front().digest != img.digest) {
    spdlog::debug("oci export without the registry's index ref={} index={} reason=a platform subset was pulled",
                  img.ref.str(), img.digest.str());
  }
  for (const auto& d : img.images) out.push_back({img.ref, d});
  return out;
}

core::Status export_images(const PullArgs& a, const store::Store& store, const sync::PullReport& report) {
  std::vector<exporter::ExportImage> images;
  for (const auto& img : report.images) {
    if (img.error) continue;
    auto list = export_list(a, store, img);
    if (list.empty()) {
      return core::fail(core::ErrorKind::NotFound,
                        fmt::format("{}: no platform image in it to export (only attestations or artifacts); "
                                    "use --all-platforms --format oci-archive",
                                    img.ref.str()));
    }
    images.insert(images.end(), list.begin(), list.end());
  }
  if (images.empty()) return core::fail(core::ErrorKind::NotFound, "nothing to export: no image was pulled");
  const fs::path out = a.output;
  if (a.format == "oci") return exporter::write_oci_layout(store, images, out);
  if (a.format == "oci-archive") return exporter::write_oci_archive(store, images, out);
  // An artifact cannot be docker-loaded: refused with its own line, before any file exists.
  if (auto st = exporter::check_docker_loadable(store, images); !st) return st;
  exporter::DockerArchiveOptions opts;
  opts.uncompressed = a.uncompressed;
  opts.keep_zstd = a.keep_zstd;
  return exporter::write_docker_archive(store, images, out, opts);
}

}  // namespace

int run_pull(const PullArgs& a, http::Engine& engine) {
  auto login = login_from_flags(a.username, a.password_stdin, std::cin);
  if (!login) return usage(login.error().message);
  if (a.uncompressed && a.format != "docker") return usage("--uncompressed applies to --format docker only");
  if (a.keep_zstd && a.format != "docker") return usage("--keep-zstd applies to --format docker only");
  if (a.keep_zstd && a.uncompressed) return usage("--keep-zstd and --uncompressed contradict each other");
  auto platform = manifest::parse_platform(a.platform);
  if (!platform) return usage(platform.error().message);
  std::vector<sync::PullTarget> targets;
  for (const auto& text : a.refs) {
    auto r = reference::parse(text);
    if (!r) return usage(r.error().message);
    targets.push_back({*r, {*platform}, a.all_platforms, a.referrers});
  }
  config::RegistryFlags flags{a.insecure_registries, a.max_attempts, *login, {}};
  for (const auto& t : targets) flags.login_domains.push_back(t.ref.domain);
  auto resolver = config::registry_resolver(nullptr, flags);
  if (!resolver) return usage(resolver.error().message);
  sync::PullOptions opts;
  opts.concurrency = a.concurrency;
  opts.segments = a.segments;
  opts.fetch_foreign = a.foreign_layers == "fetch";
  if (auto st = apply_deadline(a.deadline, std::nullopt, opts); !st) return usage(st.error().message);
  opts.registry_options = std::move(*resolver);

  auto store = store::Store::open(a.store.empty() ? default_store_dir() : a.store, true);
  if (!store) return usage(store.error().message);
  // gc or a sync on the same store must not sweep blobs this pull is about to name.
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return run_failed("pull", lock.error().message);
  opts.progress = terminal_progress();
  auto report = sync::pull(*store, targets, opts, engine);
  finish_progress();
  if (!report) return run_failed("pull", report.error().message);
  for (const auto& img : report->images) {
    if (img.error) print_error("pull", img.error->message);
  }
  spdlog::info("pull done images={} failed={} blobs_fetched={} blobs_present={} bytes={} requests={} seconds={:.2f}",
               report->images.size(),
               std::count_if(report->images.begin(), report->images.end(), [](auto& i) { return i.error.has_value(); }),
               report->blobs_fetched, report->blobs_present, report->bytes_fetched, report->requests,
               report->seconds);
  if (!a.output.empty()) {
    if (!report->ok()) {
      spdlog::warn("{} not written: not every image could be pulled", a.output);
      return kExitSomeFailed;
    }
    if (auto st = export_images(a, *store, *report); !st) {
      if (st.error().kind == core::ErrorKind::InvalidInput) return run_failed("pull", st.error().message);
      return run_failed("pull", fmt::format("export {}: {}", a.output, st.error().message));
    }
    // Exit 0 only with the file there and verifying, whatever the path above did.
    if (auto st = check_output(a.output, a.format); !st) {
      discard_output(a.output);  // an output that does not verify is not left to be carried
      return run_failed("pull", fmt::format("export {}: {}", a.output, st.error().message));
    }
    spdlog::info("wrote {} format={}", a.output, a.format);
  }
  return report->ok() ? kExitOk : kExitSomeFailed;
}

}  // namespace ferry::cli

// `ferry push`: upload images from the store to a registry, digests unchanged.
//
//   ferry push [--store DIR] (--all | REF...) --to REGISTRY[/PREFIX]
//       each REF (as in the store's index.json) goes to REGISTRY/PREFIX/<its repository>:<its tag>
//   ferry push [--store DIR] REF REGISTRY/REPO[:TAG]
//       one image under a new name (the tag defaults to REF's)
//   ferry push --from PATH [--store DIR] [REF...] --to REGISTRY[/PREFIX]
//       an export directory, bundle or tarball carried across the air gap: imported
//       into the store first (checked like `ferry import`), then its references
//       (or the REFs named) pushed; the store keeps the blobs for later deltas
//
// Credentials come from --username/--password-stdin, else the docker config; plain
// HTTP only for loopback and --insecure-registry hosts. --receipt FILE lists every
// blob the destination now holds for the pushed images (for `ferry export --since`).
#include <algorithm>
#include <map>
#include <filesystem>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/auth.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "config/config.h"
#include "config/registry_options.h"
#include "push/push.h"
#include "reference/reference.h"
#include "store/lock.h"
#include "store/receipt.h"
#include "store/store.h"

namespace ferry::cli {

void add_push_options(CLI::App& cmd, PushArgs& a) {
  cmd.description(
      "upload images from the store to a registry, keeping every digest\n"
      "  ferry push [--store DIR] (--all | REF...) --to REGISTRY[/PREFIX]\n"
      "      docker.io/library/ubuntu:24.04 --to reg:5000/mirror -> reg:5000/mirror/library/ubuntu:24.04\n"
      "  ferry push [--store DIR] REF REGISTRY/REPO[:TAG]\n"
      "      one image under a new name (the tag defaults to REF's)\n"
      "  ferry push --from DIR|TAR [--store DIR] [REF...] --to REGISTRY[/PREFIX]\n"
      "      an export directory, bundle or tarball: imported into the store, then pushed");
  cmd.add_option("refs", a.args, "store references to push (then DEST when --to is not given)");
  cmd.add_option("--to", a.to, "destination REGISTRY[/PREFIX]; each image keeps its repository and tag under it");
  cmd.add_option("--from", a.from, "export directory, bundle or tarball to import into the store and push");
  cmd.add_flag("--all", a.all, "push every reference in the store (with --to)");
  cmd.add_option("--store", a.store, "content store directory (default ~/.local/share/ferry/store)");
  cmd.add_option("--concurrency", a.concurrency, "requests in flight")->check(CLI::Range(1, 256));
  cmd.add_option("--chunk-size", a.chunk_mib, "MiB per PATCH; larger blobs are uploaded in chunks")
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--insecure-registry", a.insecure_registries,
                 "HOST[:PORT] that may be reached over plain HTTP or unverified TLS");
  cmd.add_option("--username", a.username, "user for the destination registry");
  cmd.add_flag("--password-stdin", a.password_stdin, "read the password from standard input");
  cmd.add_option("--receipt", a.receipt, "write the blobs the destination now holds for these images here");
  cmd.add_option("--deadline", a.deadline,
                 "stop the push after this long (e.g. 90s, 2h, 1h30m); images whose tag is not up by then fail");
}

namespace {

int usage(std::string_view msg) { return usage_error("push", msg); }
int failed(std::string_view msg) { return run_failed("push", msg); }

// True when `text` names a tag in its last path component ("host:5000/repo" has none).
bool has_tag(const std::string& text) {
  const auto slash = text.rfind('/');
  const std::string last = slash == std::string::npos ? text : text.substr(slash + 1);
  return last.find(':') != std::string::npos || last.find('@') != std::string::npos;
}

}  // namespace

int run_push(const PushArgs& a, http::Engine& engine) {
  auto login = login_from_flags(a.username, a.password_stdin, std::cin);
  if (!login) return usage(login.error().message);
  std::optional<std::chrono::seconds> deadline;
  if (!a.deadline.empty()) {
    auto d = config::parse_duration(a.deadline);
    if (!d) return usage(d.error().context("--deadline").message);
    deadline = *d;
  }
  std::vector<std::string> sources = a.args;
  std::string rename;
  if (a.to.empty()) {
    if (a.all) return usage("--all needs --to REGISTRY[/PREFIX]");
    const size_t want = a.from.empty() ? 2 : (sources.size() == 1 ? 1 : 2);
    if (sources.size() != want) {
      return usage(a.from.empty() ? "give REF... --to REGISTRY[/PREFIX], or exactly REF and REGISTRY/REPO[:TAG]"
                                  : "give [REF...] --to REGISTRY[/PREFIX], or [REF] REGISTRY/REPO[:TAG]");
    }
    rename = sources.back();
    sources.pop_back();
  } else if (a.from.empty() && a.all == !sources.empty()) {
    return usage("give either --all or references to push");
  } else if (!a.from.empty() && a.all) {
    return usage("--from pushes what it imports (or the REFs named); --all is not needed");
  }
  std::error_code ec;
  if (!a.from.empty() && !std::filesystem::exists(a.from, ec)) return usage(a.from + ": no such file or directory");

  auto store = store::Store::open(a.store.empty() ? default_store_dir() : a.store, !a.from.empty());
  if (!store) return usage(store.error().message);
  // gc must not sweep blobs while they are being sent.
  auto lock = store::StoreLock::acquire(*store);
  if (!lock) return failed(lock.error().message);
  if (!a.from.empty()) {
    auto imported = import_and_print(a.from, *store);
    if (!imported) return failed(imported.error().message);
    if (sources.empty()) {
      if (imported->empty()) return failed(fmt::format("{} names no images", a.from));
      if (!rename.empty() && imported->size() != 1) {
        return usage(fmt::format("{} holds {} images; name the one to push as REF before {}", a.from,
                                 imported->size(), rename));
      }
      sources = *imported;
    }
  }
  auto all_items = push::store_items(*store);
  if (!all_items) return usage(all_items.error().message);

  std::vector<push::PushItem> items;
  if (a.all) {
    items = std::move(*all_items);
  } else {
    for (const auto& text : sources) {
      auto ref = reference::parse(text);
      if (!ref) return usage(ref.error().message);
      auto it = std::find_if(all_items->begin(), all_items->end(),
                             [&](const push::PushItem& i) { return i.source == ref->str(); });
      if (it == all_items->end()) return usage(fmt::format("{} is not in the store {}", ref->str(), store->root().string()));
      items.push_back(*it);
    }
    items = push::with_referrers(*all_items, std::move(items));  // signatures, SBOMs go with their image
  }
  std::map<std::string, reference::Reference> dest_of;  // source -> destination, for referrers
  for (auto& item : items) {
    auto src = reference::parse(item.source);
    if (!src) return usage(fmt::format("index.json names {}: {}", item.source, src.error().message));
    if (auto subject = dest_of.find(item.referrer_of); !rename.empty() && subject != dest_of.end()) {
      item.destination = push::referrer_destination(subject->second, *src);
    } else if (!rename.empty()) {
      auto dest = reference::parse(rename);
      if (!dest) return usage(dest.error().message);
      if (rename.substr(0, rename.find('/')) != dest->domain || rename.find('/') == std::string::npos) {
        return usage(fmt::format("destination \"{}\" must start with a registry host (a name with a dot or a port, "
                                 "or localhost)", rename));
      }
      if (!has_tag(rename)) {
        dest->tag = src->tag;
        dest->digest = src->tag.empty() ? src->digest : std::nullopt;
      }
      item.destination = *dest;
    } else {
      auto dest = push::map_destination(*src, a.to);
      if (!dest) return usage(dest.error().message);
      item.destination = *dest;
    }
    dest_of.emplace(item.source, item.destination);
  }
  if (items.empty()) return usage("the store holds no images");

  config::RegistryFlags flags{a.insecure_registries, 0, *login, {}};
  for (const auto& i : items) flags.login_domains.push_back(i.destination.domain);
  auto resolver = config::registry_resolver(nullptr, flags);
  if (!resolver) return usage(resolver.error().message);
  push::PushOptions opts;
  opts.concurrency = a.concurrency;
  opts.chunk_size = static_cast<uint64_t>(a.chunk_mib) << 20;
  if (deadline) {
    opts.deadline = *deadline;
    opts.deadline_text = config::format_duration(*deadline);
  }
  opts.registry_options = std::move(*resolver);

  opts.progress = terminal_progress();
  auto report = push::push(*store, items, opts, engine);
  finish_progress();
  if (!report) return failed(report.error().message);
  for (const auto& img : report->images) {
    if (img.error) {
      print_error("push", img.error->message);
      continue;
    }
    fmt::print("pushed {} -> {} {}{}\n", img.source, img.destination.str(), img.digest.str(),
               img.unchanged ? " (already there)"
                             : fmt::format(" uploaded={} mounted={} present={} bytes={}", img.blobs_uploaded,
                                           img.blobs_mounted, img.blobs_present, img.bytes_uploaded));
  }
  spdlog::info("push done images={} failed={} uploaded={} mounted={} present={} bytes={} requests={} seconds={:.2f}",
               report->images.size(),
               std::count_if(report->images.begin(), report->images.end(), [](auto& i) { return i.error.has_value(); }),
               report->blobs_uploaded, report->blobs_mounted, report->blobs_present, report->bytes_uploaded,
               report->requests, report->seconds);
  if (!a.receipt.empty()) {
    store::Receipt receipt;
    std::set<std::string> where;
    for (const auto& img : report->images) {
      if (img.error) continue;
      receipt.blobs.insert(img.blobs.begin(), img.blobs.end());
      where.insert(img.destination.domain + "/" + img.destination.repository);
    }
    for (const auto& w : where) receipt.source += (receipt.source.empty() ? "registry " : " ") + w;
    if (auto st = store::write_receipt(a.receipt, receipt); !st) {
      return failed(fmt::format("receipt {}: {}", a.receipt, st.error().message));
    }
  }
  return report->ok() ? kExitOk : kExitSomeFailed;
}

}  // namespace ferry::cli

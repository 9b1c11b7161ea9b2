// ferry: command line entry point. Parses arguments, sets up logging, runs a
// subcommand and maps its outcome to the exit codes of the design:
// 0 all done, 1 some images failed (the rest were still done), 2 usage or config error.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/logging.h"

namespace {

ferry::http::Engine* g_engine = nullptr;

void on_signal(int) {
  if (g_engine) g_engine->cancel();
}

// The --log-format of the command line, found before parsing so that a parse error
// is reported in it too ("text" unless "json" is given).
std::string log_format_arg(int argc, char** argv) {
  std::string format = "text";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--log-format" && i + 1 < argc) format = argv[++i];
    if (arg.starts_with("--log-format=")) format = arg.substr(arg.find('=') + 1);
  }
  return format == "json" ? format : "text";
}

// A parse error as one CLI error line: "ferry: <subcommand>: <what CLI11 says>".
int parse_error(const CLI::App& app, const CLI::ParseError& e, const std::string& log_format) {
  ferry::cli::setup_logging("info", log_format);
  std::string command;  // the subcommand being parsed when it failed, if any
  for (const auto* sub : app.get_subcommands()) command = sub->get_name();
  std::string message = e.what();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  message += command.empty() ? " (see ferry --help)" : " (see ferry " + command + " --help)";
  return ferry::cli::usage_error(command, message);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ferry: mirror container images from Docker/OCI v2 registries, no Docker needed"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.set_version_flag("--version", "ferry 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));

  ferry::cli::PullArgs pull;
  auto* cmd = app.add_subcommand("pull", "pull images into the store and optionally export them");
  ferry::cli::add_pull_options(*cmd, pull);
  ferry::cli::SyncArgs sync;
  auto* sync_cmd = app.add_subcommand("sync", "mirror the images of a watchlist, once or on its schedule");
  ferry::cli::add_sync_options(*sync_cmd, sync);
  ferry::cli::GcArgs gc;
  auto* gc_cmd = app.add_subcommand("gc", "drop images no longer in the watchlist and free their blobs");
  ferry::cli::add_gc_options(*gc_cmd, gc);
  ferry::cli::PushArgs push;
  auto* push_cmd = app.add_subcommand("push", "upload images from the store to a registry, digests unchanged");
  ferry::cli::add_push_options(*push_cmd, push);
  ferry::cli::VerifyArgs verify;
  auto* verify_cmd = app.add_subcommand("verify", "check an export directory, a tarball or the store");
  ferry::cli::add_verify_options(*verify_cmd, verify);

  ferry::cli::ExportArgs export_args;
  auto* export_cmd = app.add_subcommand("export", "write the export directory from the store, without network");
  ferry::cli::add_export_options(*export_cmd, export_args);

  ferry::cli::ImportArgs import_args;
  auto* import_cmd = app.add_subcommand("import", "bring bundles, tarballs or an export directory into the store");
  ferry::cli::add_import_options(*import_cmd, import_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return parse_error(app, e, log_format_arg(argc, argv));
  }
  ferry::cli::setup_logging(log_level, log_format);

  // One pool for every command's blocking work: the engine's offloaded commits
  // (a lane of it), a sync's exports, archive writing.
  ferry::http::EngineOptions engine_opts;
  engine_opts.executor = std::make_shared<ferry::core::Executor>(ferry::core::archive_threads());
  ferry::http::Engine engine(engine_opts);
  g_engine = &engine;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  int rc = 2;
  if (cmd->parsed()) rc = ferry::cli::run_pull(pull, engine);
  if (sync_cmd->parsed()) rc = ferry::cli::run_sync(sync, engine);
  if (gc_cmd->parsed()) rc = ferry::cli::run_gc(gc);
  if (verify_cmd->parsed()) rc = ferry::cli::run_verify(verify);
  if (push_cmd->parsed()) rc = ferry::cli::run_push(push, engine);
  if (export_cmd->parsed()) rc = ferry::cli::run_export(export_args, engine.executor());
  if (import_cmd->parsed()) rc = ferry::cli::run_import(import_args);
  g_engine = nullptr;
  return rc;
}

// Client: the Docker Registry HTTP API v2 for one registry host, over http::Engine.
//
// It owns the exchange with one registry: the ping that finds the scheme and the
// auth challenge, bearer tokens per repository scope (single flight: one token
// request however many transfers wait for it), Basic credentials, the one retry
// policy (exponential backoff with jitter, Retry-After), one token refresh on a 401,
// and redirects (Authorization only ever goes to the registry's own host).
//
// All methods and callbacks run on the engine's loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "core/byte_sink.h"
#include "core/error.h"
#include "digest/digest.h"
#include "http/engine.h"
#include "manifest/manifest.h"

namespace ferry::registry {

struct RetryPolicy {
  int max_attempts = 5;                             // per request, first try included
  std::chrono::milliseconds base_delay{500};        // doubled each attempt, with jitter
  std::chrono::milliseconds max_delay{30000};
  std::chrono::seconds max_retry_after{300};        // a longer Retry-After fails the request
  // A cut connection gives the request its attempts back only when it delivered at
  // least this many new bytes: real progress on a flaky link, not a registry that
  // trickles 16 bytes a minute to keep one blob alive for weeks (#13).
  uint64_t min_progress_bytes = 64 << 10;
  // Each blob download (or segment) must end within blob_time_base + the bytes it
  // still needs / blob_min_rate, over all its attempts: a registry that keeps a
  // transfer just above the stall rate cannot hold it for days. The partial stays
  // for the next run. blob_min_rate 0: no cap (the run's deadline still holds).
  std::chrono::seconds blob_time_base{600};
  uint64_t blob_min_rate = 8 << 10;  // bytes per second, on average
};

// The cap above for `bytes` still to fetch; nullopt when there is none.
std::optional<std::chrono::milliseconds> blob_time_cap(const RetryPolicy& policy, uint64_t bytes);

struct RegistryOptions {
  // Plain HTTP allowed (after HTTPS is tried) and TLS unverified: only for hosts the
  // user named insecure, and for loopback hosts, as Docker does.
  bool insecure = false;
  std::string ca_file;
  std::optional<auth::Credentials> credentials;
  RetryPolicy retry;
  int max_concurrency = 0;  // blob transfers in flight to this registry; 0 = no own cap
};

// True for localhost, 127.0.0.0/8 and ::1 (with or without a port).
bool is_loopback_host(std::string_view host_port);

// The lower-cased host[:port] of an absolute URL (userinfo dropped); "" when the
// URL has no scheme.
std::string url_host(std::string_view url);

struct ManifestReply {
  std::string body;          // exact bytes (empty for HEAD)
  std::string media_type;    // Content-Type without parameters
  // GET: computed over body (over the JWS payload for a signed schema1 manifest, see
  // manifest/schema1.h); HEAD: Docker-Content-Digest.
  digest::Digest digest;
  int64_t size = 0;
};

struct ClientStats {
  uint64_t manifest_gets = 0, manifest_heads = 0, blob_gets = 0, token_requests = 0, retries = 0;
  uint64_t blob_heads = 0, blob_uploads = 0, blob_mounts = 0, manifest_puts = 0, upload_restarts = 0;
};

// A blob to upload: its first `size` bytes of `file` (a store blob), sent straight
// from the file.
struct BlobUpload {
  digest::Digest digest;
  int64_t size = 0;
  std::string file;                              // names the content; opened when `fd` is empty
  std::shared_ptr<const core::UniqueFd> fd;      // the content already open
};

struct UploadOptions {
  // Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size
  // (an interrupted chunk resumes from the offset the registry reports).
  uint64_t chunk_size = 32ull << 20;
  // Try a cross-repository mount from this repository (same registry) first.
  std::string mount_from;
};

struct UploadResult {
  bool mounted = false;      // the registry linked the blob from mount_from: nothing sent
  uint64_t bytes_sent = 0;   // body bytes sent, resent ones included
  int restarts = 0;          // uploads the registry lost and that began again
};

struct BlobUploadOp;

class Client {
 public:
  // `host` is where the API lives (registry-1.docker.io for docker.io).
  Client(http::Engine& engine, std::string host, RegistryOptions opts, auth::TokenCache& tokens);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // GET (or HEAD) /v2/<repo>/manifests/<ref>. For GET the digest is computed over the
  // bytes (manifest::manifest_digest: schema1 over its payload) and checked against
  // Docker-Content-Digest when the registry sends one; a schema1 body whose JWS is
  // malformed fails with InvalidInput.
  void get_manifest(const std::string& repository, const std::string& ref, bool head_only,
                    std::function<void(core::Result<ManifestReply>)> done);

  // GET /v2/<repo>/referrers/<digest> (OCI distribution 1.1): the index of the
  // manifests whose subject is `d`, as its exact bytes; nullopt when the registry
  // answers 404, which the spec defines as "no referrers API here" (the caller then
  // falls back to the sha256-<hex> tag schema). The body is bounded like a manifest.
  void get_referrers(const std::string& repository, const digest::Digest& d,
                     std::function<void(core::Result<std::optional<std::string>>)> done);

  // GET /v2/<repo>/blobs/<digest> into `sink`, resuming from sink.size() with Range.
  // Cut connections resume; a 200 to a Range restarts the sink. The caller verifies
  // (store commit). `sink` must outlive the call.
  // `size` (the descriptor's, -1 when unknown) sets the blob's time cap
  // (RetryPolicy::blob_min_rate); past it the download fails with Timeout, not retried.
  void get_blob(const std::string& repository, const digest::Digest& d, core::ByteSink& sink,
                std::function<void(core::Status)> done, int64_t size = -1);

  // ---- uploads (scope repository:<repo>:pull,push) ---------------------------------
  // HEAD /v2/<repo>/blobs/<digest>: true when the registry has it (404: false).
  void blob_exists(const std::string& repository, const digest::Digest& d,
                   std::function<void(core::Result<bool>)> done);

  // Upload `blob` into `repository`: a mount when opts.mount_from names a repository
  // holding it (201), else POST /blobs/uploads/ and either one PUT ?digest= with the
  // body or PATCH chunks with Content-Range and a final PUT. Each step follows the
  // Location the registry returned (relative ones resolved; Authorization only to
  // the registry's own host). A failed chunk asks GET <location> for the Range the
  // registry holds and goes on from there; a lost upload starts over. The registry's
  // Docker-Content-Digest must name blob.digest.
  void upload_blob(const std::string& repository, const BlobUpload& blob, const UploadOptions& opts,
                   std::function<void(core::Result<UploadResult>)> done);

  // PUT /v2/<repo>/manifests/<ref> with the exact bytes and `media_type` as
  // Content-Type. Returns the digest the registry reports (checked against ours).
  void put_manifest(const std::string& repository, const std::string& ref, std::string body,
                    const std::string& media_type, std::function<void(core::Result<digest::Digest>)> done);

  // GET a foreign (non-distributable) layer from one of its descriptor's `urls`
  // into `sink`, resuming like get_blob. Never with Authorization, on any host, and
  // over https only: plain http only when `allow_http` (the URL's host is loopback or
  // marked insecure; the caller decides). Redirects are followed without credentials.
  // The caller verifies digest and size (store commit).
  void get_foreign(const std::string& url, bool allow_http, core::ByteSink& sink,
                   std::function<void(core::Status)> done, int64_t size = -1);

  // GET bytes [from, to) of the blob into `sink` (one segment of a segmented
  // download): asks Range: bytes=(from + sink.size())-(to - 1), resuming cut
  // connections the same way. A 200 answer reaches sink.restart(), which for a
  // segment fails with RangeIgnored: the caller falls back to get_blob.
  void get_blob_range(const std::string& repository, const digest::Digest& d, uint64_t from, uint64_t to,
                      core::ByteSink& sink, std::function<void(core::Status)> done);

  const std::string& host() const;
  const ClientStats& stats() const;

 private:
  void get_blob_op(const std::string& repository, const digest::Digest& d, uint64_t from, uint64_t to,
                   core::ByteSink& sink, std::function<void(core::Status)> done, int64_t size);
  friend struct BlobUploadOp;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ferry::registry

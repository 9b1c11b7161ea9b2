// Client: ping, auth, retries and redirects for one registry host.
//
// Every API call becomes an Op that walks: ping (once per client, single flight) →
// authorization for the op's scope → send → interpret the status. Interpretation is
// the only place that decides about retries (network errors, 408/429/5xx with
// backoff or Retry-After), the one token refresh after a 401, and redirects.
#include "registry/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctime>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/redact.h"
#include "manifest/schema1.h"
#include "registry/errors.h"

namespace ferry::registry {

namespace {

constexpr int kMaxRedirects = 5;              // Docker Hub needs 1; loops end here
constexpr uint64_t kMaxErrorBody = 64 << 10;  // error bodies are small; never keep more


std::string url_scheme_host(std::string_view url) {
  auto s = url.find("://");
  if (s == std::string_view::npos) return {};
  auto end = url.find_first_of("/?#", s + 3);
  return std::string(url.substr(0, end));
}

// Location may be absolute, scheme-relative or path-absolute.
std::string resolve_location(const std::string& base, const std::string& loc) {
  if (loc.find("://") != std::string::npos) return loc;
  if (loc.rfind("//", 0) == 0) return base.substr(0, base.find("://") + 1) + loc;
  if (!loc.empty() && loc[0] == '/') return url_scheme_host(base) + loc;
  auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + loc;
}

std::string media_type_of(const std::string& content_type) {
  std::string_view v = content_type;
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

}  // namespace

std::string url_host(std::string_view url) {
  auto s = url.find("://");
  if (s == std::string_view::npos) return {};
  url.remove_prefix(s + 3);
  auto end = url.find_first_of("/?#");
  std::string_view auth = url.substr(0, end);
  if (auto at = auth.rfind('@'); at != std::string_view::npos) auth = auth.substr(at + 1);
  std::string out(auth);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_loopback_host(std::string_view host_port) {
  std::string host(host_port);
  if (!host.empty() && host.front() == '[') {  // [v6] or [v6]:port
    auto close = host.find(']');
    if (close == std::string::npos) return false;
    host = host.substr(1, close - 1);
  } else if (host.find(':') == host.rfind(':')) {  // name or v4, with at most one ":port"
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost") return true;
  // Literal addresses only: a DNS name such as "127.example.com" can point anywhere.
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

struct Op {
  std::string method;
  std::string registry_url;  // first URL, on the registry host
  std::string url;           // current URL (after redirects)
  std::string scope;
  std::vector<std::string> headers;
  core::ByteSink* sink = nullptr;
  uint64_t range_base = 0, range_end = 0;  // a segment: bytes [range_base + sink->size(), range_end)
  uint64_t max_body = kMaxErrorBody;
  int attempt = 1;
  uint64_t high_water = 0;  // most bytes the sink ever held: progress is going past it
  int redirects = 0;
  bool refreshed = false;
  bool range_restarted = false;  // a resume the registry refused (416) started over from 0
  // A blob's time cap (RetryPolicy::blob_min_rate): no attempt runs past it.
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  std::chrono::milliseconds cap{0};
  uint64_t cap_bytes = 0;
  std::optional<http::Body> body;  // uploads: sent again on each attempt
  bool anonymous = false;          // never Authorization, even on the registry's host (foreign layers)
  // False for requests whose repetition the caller must decide (a PATCH the registry
  // may have half applied): a retryable failure is returned instead of retried.
  bool retry_safe = true;
  std::function<void(core::Result<http::Response>)> done;
};

struct Client::Impl : std::enable_shared_from_this<Impl> {
  http::Engine& engine;
  std::string host;
  RegistryOptions opts;
  auth::TokenCache& tokens;
  ClientStats stats;
  std::chrono::steady_clock::time_point paused_until{};

  enum class PingState { Unknown, InProgress, Done, Failed } ping_state = PingState::Unknown;
  int ping_attempt = 1;
  std::string base;  // "https://host" or "http://host"
  std::optional<auth::Challenge> bearer;
  bool basic = false;
  core::Error ping_error;
  std::vector<std::function<void(core::Status)>> ping_waiters;
  std::map<std::string, std::vector<std::function<void(core::Result<std::string>)>>> token_waiters;

  Impl(http::Engine& e, std::string h, RegistryOptions o, auth::TokenCache& t)
      : engine(e), host(std::move(h)), opts(std::move(o)), tokens(t) {}

  http::Request request(const std::string& method, const std::string& url) const {
    http::Request r;
    r.method = method;
    r.url = url;
    // Docker's rule: loopback registries and those marked insecure skip verification.
    r.verify_tls = !opts.insecure && !is_loopback_host(host);
    r.ca_file = opts.ca_file;
    r.max_body = kMaxErrorBody;
    return r;
  }

  // ---- ping -------------------------------------------------------------------
  void ensure_ping(std::function<void(core::Status)> cb) {
    if (ping_state == PingState::Done) return cb({});
    if (ping_state == PingState::Failed) return cb(core::fail(ping_error));
    ping_waiters.push_back(std::move(cb));
    if (ping_state == PingState::InProgress) return;
    ping_state = PingState::InProgress;
    ping_scheme("https");
  }

  void ping_scheme(const std::string& scheme) {
    std::string url = scheme + "://" + host + "/v2/";
    auto self = shared_from_this();
    engine.submit(request("GET", url), [self, scheme](core::Result<http::Response> r) {
      self->on_ping(scheme, std::move(r));
    });
  }

  void on_ping(const std::string& scheme, core::Result<http::Response> r) {
    if (!r) {
      bool may_fall_back = scheme == "https" && (opts.insecure || is_loopback_host(host)) &&
                           r.error().kind != core::ErrorKind::Cancelled;
      if (may_fall_back) {
        spdlog::debug("https ping failed, trying plain http host={} error={}", host, r.error().message);
        return ping_scheme("http");
      }
      core::Error e = r.error();
      e.context(fmt::format("registry {} unreachable", host));
      return retry_ping_or_finish(std::move(e));
    }
    base = scheme + "://" + host;
    if (r->status == 200) return finish_ping(std::nullopt);
    if (r->status == 401) {
      auto challenges = auth::parse_challenges(r->header("www-authenticate"));
      if (!challenges) {
        core::Error e = challenges.error();
        return finish_ping(std::move(e.context(fmt::format("registry {}: WWW-Authenticate", host))));
      }
      for (const auto& c : *challenges) {
        if (c.scheme == "bearer") bearer = c;
        if (c.scheme == "basic") basic = true;
      }
      if (!bearer && !basic) {
        return finish_ping(core::error(core::ErrorKind::Unsupported,
                                       fmt::format("registry {}: no supported auth scheme in challenge", host), 401));
      }
      return finish_ping(std::nullopt);
    }
    core::Error e = error_from_response(*r, fmt::format("registry {}: GET /v2/", host), engine.clock().wall());
    if (r->status == 404) e.message += " (not a Docker/OCI v2 registry)";
    retry_ping_or_finish(std::move(e));
  }

  // A refused connection, a DNS failure, a reset, a timeout or a 5xx at the first
  // contact is as transient as anywhere else: the same backoff and budget as every
  // request, then the error for everyone waiting.
  void retry_ping_or_finish(core::Error e) {
    const bool wait_ok = !e.retry_after || *e.retry_after <= opts.retry.max_retry_after;
    if (!e.retryable() || !wait_ok || ping_attempt >= opts.retry.max_attempts) return finish_ping(std::move(e));
    std::chrono::milliseconds delay = backoff(ping_attempt);
    if (e.retry_after) delay = std::max(delay, std::chrono::milliseconds(*e.retry_after));
    ++ping_attempt;
    ++stats.retries;
    spdlog::warn("retrying host={} attempt={}/{} wait={}ms error={}", host, ping_attempt, opts.retry.max_attempts,
                 delay.count(), e.message);
    auto self = shared_from_this();
    engine.schedule(delay, [self] { self->ping_scheme("https"); });
  }

  void finish_ping(std::optional<core::Error> err) {
    ping_state = err ? PingState::Failed : PingState::Done;
    if (err) ping_error = *err;
    auto waiters = std::move(ping_waiters);
    ping_waiters.clear();
    for (auto& w : waiters) w(err ? core::Status(core::fail(*err)) : core::Status{});
  }

  // ---- authorization ------------------------------------------------------------
  std::string basic_header() const {
    if (!opts.credentials || opts.credentials->username.empty()) return {};
    return "Authorization: " + auth::basic_authorization(*opts.credentials);
  }

  // The Authorization header line for `scope` ("" for none).
  void authorization(const std::string& scope, std::function<void(core::Result<std::string>)> cb) {
    if (!bearer) return cb(basic ? basic_header() : std::string{});
    const std::string key = auth::TokenCache::key(bearer->param("realm"), bearer->param("service"), scope);
    if (auto tok = tokens.get(key, engine.clock().wall())) return cb("Authorization: Bearer " + *tok);
    auto& waiters = token_waiters[key];
    waiters.push_back(std::move(cb));
    if (waiters.size() > 1) return;  // a token request for this scope is already out
    std::vector<std::string> scopes;  // "a b": one token for several scopes (a mount)
    for (size_t pos = 0; pos < scope.size();) {
      size_t end = std::min(scope.find(' ', pos), scope.size());
      if (end > pos) scopes.push_back(scope.substr(pos, end - pos));
      pos = end + 1;
    }
    auto url = auth::token_request_url(*bearer, scopes);
    if (!url) return finish_token(key, core::fail(url.error()));
    http::Request r = request("GET", *url);
    r.max_body = 1 << 20;
    if (auto h = basic_header(); !h.empty()) {
      if (!may_send_credentials_to(*url)) {
        return finish_token(key, core::fail(core::ErrorKind::Denied,
                                            fmt::format("token realm {} of {} is plain http: refusing to send the "
                                                        "credentials there in clear text",
                                                        core::redact_url(*url), host)));
      }
      r.headers.push_back(h);
    }
    ++stats.token_requests;
    spdlog::debug("token request url={}", core::redact_url(*url));
    auto self = shared_from_this();
    engine.submit(std::move(r), [self, key](core::Result<http::Response> resp) {
      self->on_token(key, std::move(resp));
    });
  }

  void on_token(const std::string& key, core::Result<http::Response> resp) {
    if (!resp) return finish_token(key, core::fail(resp.error().context("token request")));
    if (resp->status != 200) {
      core::Error e = error_from_response(*resp, fmt::format("token request for {}", host), engine.clock().wall());
      if (resp->status == 401 || resp->status == 403) {
        e.kind = core::ErrorKind::Unauthorized;
        e.message += opts.credentials ? " (credentials rejected)" : " (credentials required)";
      }
      return finish_token(key, core::fail(std::move(e)));
    }
    auto token = auth::parse_token_response(resp->body, engine.clock().wall());
    if (!token) return finish_token(key, core::fail(token.error().context("token reply from " + host)));
    std::string header = "Authorization: Bearer " + token->value;
    tokens.put(key, std::move(*token));
    finish_token(key, header);
  }

  void finish_token(const std::string& key, core::Result<std::string> result) {
    auto waiters = std::move(token_waiters[key]);
    token_waiters.erase(key);
    for (auto& w : waiters) w(result);
  }

  void invalidate_token(const std::string& scope) {
    if (bearer) tokens.invalidate(auth::TokenCache::key(bearer->param("realm"), bearer->param("service"), scope));
  }

  // Credentials go to a token realm on any host (as Docker does) but only over
  // https, unless the realm is on loopback or is this registry marked insecure:
  // an https registry's challenge must not downgrade the password to plain http.
  bool may_send_credentials_to(const std::string& url) const {
    if (url.compare(0, 8, "https://") == 0) return true;
    const std::string realm_host = url_host(url);
    return is_loopback_host(realm_host) || (opts.insecure && realm_host == url_host(base));
  }

  // ---- ops ----------------------------------------------------------------------
  // Same scheme, host and port as the registry: an https -> http redirect on the
  // same host must not carry credentials in clear text either.
  bool on_registry(const std::string& url) const {
    return url_host(url) == url_host(base) && url.compare(0, base.find("://"), base, 0, base.find("://")) == 0;
  }

  void start(std::shared_ptr<Op> op) {
    auto self = shared_from_this();
    ensure_ping([self, op](core::Status st) {
      if (!st) return op->done(core::fail(st.error()));
      // Upload locations come absolute; API paths get the registry's base.
      if (op->registry_url.find("://") == std::string::npos) op->registry_url = self->base + op->registry_url;
      op->url = op->registry_url;
      self->authorize_and_send(op);
    });
  }

  void authorize_and_send(std::shared_ptr<Op> op) {
    if (auto wait = paused_for(); wait.count() > 0) {  // the registry asked everyone to slow down
      auto self = shared_from_this();
      return engine.schedule(wait, [self, op] { self->authorize_and_send(op); });
    }
    if (op->anonymous || !on_registry(op->url)) return send(op, {});  // redirected away: no credentials
    auto self = shared_from_this();
    authorization(op->scope, [self, op](core::Result<std::string> h) {
      if (!h) {  // a token server that is down or unreachable is retried like the registry
        if (self->may_retry(*op, h.error())) return self->retry(op, h.error());
        return op->done(core::fail(h.error()));
      }
      self->send(op, *h);
    });
  }

  void send(std::shared_ptr<Op> op, const std::string& auth_header) {
    if (op->range_end > 0 && op->sink && op->range_base + op->sink->size() >= op->range_end) {
      http::Response whole;  // a segment cut right after its last byte: nothing left to ask
      whole.status = 206;
      return op->done(std::move(whole));
    }
    std::chrono::milliseconds max_time{0};
    if (op->give_up_at) {
      max_time = std::chrono::duration_cast<std::chrono::milliseconds>(*op->give_up_at -
                                                                        engine.clock().now());
      if (max_time.count() <= 0) return op->done(core::fail(cap_error(*op)));
    }
    http::Request r = request(op->method, op->url);
    r.headers = op->headers;
    if (!auth_header.empty()) r.headers.push_back(auth_header);
    r.sink = op->sink;
    r.max_body = op->max_body;
    r.range_from = op->range_base + (op->sink ? op->sink->size() : 0);
    r.range_to = op->range_end;
    r.max_time = max_time;
    r.body = op->body;
    auto self = shared_from_this();
    engine.submit(std::move(r), [self, op](core::Result<http::Response> resp) {
      self->on_response(op, std::move(resp));
    });
  }

  // Time left in a registry-wide pause, zero when none.
  std::chrono::milliseconds paused_for() const {
    auto left = paused_until - engine.clock().now();
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(left), std::chrono::milliseconds(0));
  }

  // Start the time cap of a blob download of `size` bytes (-1: unknown, no cap)
  // into `sink`, which may already hold some of them.
  void start_cap(Op& op, int64_t size, const core::ByteSink& sink) const {
    if (size < 0) return;
    const uint64_t bytes = static_cast<uint64_t>(size) - std::min<uint64_t>(static_cast<uint64_t>(size), sink.size());
    auto cap = blob_time_cap(opts.retry, bytes);
    if (!cap) return;
    op.cap = *cap;
    op.cap_bytes = bytes;
    op.give_up_at = engine.clock().now() + *cap;
  }

  core::Error cap_error(const Op& op) const {
    return core::error(core::ErrorKind::Timeout,
                       fmt::format("GET {}: not complete within its time cap of {:.1f} s ({} s + {} bytes at {} bytes/s, "
                                   "retry.blob_min_rate); the partial is kept for the next run",
                                   core::redact_url(op.url), static_cast<double>(op.cap.count()) / 1000,
                                   opts.retry.blob_time_base.count(), op.cap_bytes, opts.retry.blob_min_rate));
  }

  void retry(std::shared_ptr<Op> op, const core::Error& why) {
    std::chrono::milliseconds delay = backoff(op->attempt);
    if (why.retry_after) {
      delay = std::max(delay, std::chrono::milliseconds(*why.retry_after));
      // A Retry-After speaks for the whole registry: hold every request to it (other
      // registries have their own clients and keep going).
      paused_until = std::max(paused_until, engine.clock().now() + delay);
    }
    ++op->attempt;
    ++stats.retries;
    spdlog::warn("retrying host={} attempt={}/{} wait={}ms error={}", host, op->attempt, opts.retry.max_attempts,
                 delay.count(), why.message);
    op->url = op->registry_url;  // signed redirect targets may have expired
    op->redirects = 0;
    auto self = shared_from_this();
    engine.schedule(delay, [self, op] { self->authorize_and_send(op); });
  }

  std::chrono::milliseconds backoff(int attempt) {
    auto ceiling = opts.retry.base_delay * (1LL << std::min(attempt - 1, 16));
    ceiling = std::min<std::chrono::milliseconds>(ceiling, opts.retry.max_delay);
    return std::chrono::milliseconds(engine.clock().uniform(ceiling.count() / 2, ceiling.count()));
  }

  bool may_retry(const Op& op, const core::Error& e) const {
    if (!op.retry_safe || !e.retryable() || op.attempt >= opts.retry.max_attempts) return false;
    return !e.retry_after || *e.retry_after <= opts.retry.max_retry_after;
  }

  void on_response(std::shared_ptr<Op> op, core::Result<http::Response> resp) {
    const std::string what = fmt::format("{} {}", op->method, core::redact_url(op->url));
    if (!resp) {
      core::Error e = resp.error();  // the engine's message already names method and URL
      // A cut connection that delivered enough new bytes is progress, not a failed
      // attempt: a CDN that drops every long download must not exhaust the retry
      // budget. (A server that ignores Range and always cuts at the same point makes
      // none, and a trickle of a few bytes per connection does not count.)
      if (op->sink && op->sink->size() >= op->high_water + opts.retry.min_progress_bytes) {
        op->high_water = op->sink->size();
        op->attempt = 1;
      }
      if (op->give_up_at && engine.clock().now() + std::chrono::milliseconds(20) >= *op->give_up_at) {
        return op->done(core::fail(cap_error(*op)));
      }
      if (may_retry(*op, e)) return retry(op, e);
      return op->done(core::fail(std::move(e)));
    }
    spdlog::debug("http exchange method={} url={} status={} bytes={} ms={:.0f}", op->method,
                  core::redact_url(op->url), resp->status, resp->body_bytes, resp->seconds * 1000);
    const long status = resp->status;
    if (status >= 200 && status < 300) return op->done(std::move(resp));
    if (status >= 300 && status < 400 && !resp->header("location").empty()) {
      if (++op->redirects > kMaxRedirects) {
        return op->done(core::fail(core::ErrorKind::Network, what + ": too many redirects"));
      }
      op->url = resolve_location(op->url, resp->header("location"));
      return authorize_and_send(op);
    }
    if (status == 401 && bearer && !op->refreshed && !op->anonymous && on_registry(op->url)) {
      op->refreshed = true;  // one refresh outside the retry budget
      invalidate_token(op->scope);
      return authorize_and_send(op);
    }
    if (status == 416 && op->sink && op->range_end == 0 && op->sink->size() > 0 && !op->range_restarted) {
      // The registry will not serve the rest of what the partial holds (it holds the
      // whole blob, or the registry's copy changed): start the blob over, once.
      op->range_restarted = true;
      spdlog::warn("registry refused the resume (416), fetching from the start url={}", core::redact_url(op->url));
      if (auto st = op->sink->restart(); !st) return op->done(core::fail(st.error()));
      return authorize_and_send(op);
    }
    core::Error e = error_from_response(*resp, what, engine.clock().wall());
    if (status == 416 && op->sink && op->range_end == 0 && op->range_restarted) {
      e.message += " (after starting over from byte 0)";
    }
    if (status == 401 && !opts.credentials) e.message += " (anonymous access refused; credentials required?)";
    if (may_retry(*op, e)) return retry(op, e);
    op->done(core::fail(std::move(e)));
  }
};

Client::Client(http::Engine& engine, std::string host, RegistryOptions opts, auth::TokenCache& tokens)
    : impl_(std::make_shared<Impl>(engine, std::move(host), std::move(opts), tokens)) {}

Client::~Client() = default;

const std::string& Client::host() const { return impl_->host; }
const ClientStats& Client::stats() const { return impl_->stats; }

void Client::get_manifest(const std::string& repository, const std::string& ref, bool head_only,
                          std::function<void(core::Result<ManifestReply>)> done) {
  auto op = std::make_shared<Op>();
  op->method = head_only ? "HEAD" : "GET";
  op->registry_url = fmt::format("/v2/{}/manifests/{}", repository, ref);
  op->scope = fmt::format("repository:{}:pull", repository);
  op->headers.push_back("Accept: " + manifest::accept_header());
  op->max_body = manifest::kMaxManifestSize;
  head_only ? ++impl_->stats.manifest_heads : ++impl_->stats.manifest_gets;
  const std::string what = fmt::format("manifest {}:{}", repository, ref);
  op->done = [head_only, what, done = std::move(done)](core::Result<http::Response> r) {
    if (!r) return done(core::fail(r.error()));
    ManifestReply m;
    m.media_type = media_type_of(r->header("content-type"));
    const std::string served = r->header("docker-content-digest");
    if (head_only) {
      if (auto d = digest::Digest::parse(served)) m.digest = *d;
      m.size = std::atoll(r->header("content-length").c_str());
      return done(std::move(m));
    }
    m.body = std::move(r->body);
    m.size = static_cast<int64_t>(m.body.size());
    // Schema1 is digested over its JWS payload, not the bytes served (schema1.h).
    const bool schema1 = manifest::is_schema1(m.body, m.media_type);
    auto digest = manifest::manifest_digest(m.body, m.media_type);
    if (!digest) return done(core::fail(digest.error().context(what)));
    m.digest = std::move(*digest);
    if (!served.empty()) {
      auto d = digest::Digest::parse(served);
      if (d && *d != m.digest) {
        return done(core::fail(core::ErrorKind::DigestMismatch,
                               fmt::format("{}: {} hashes to {}, registry says {}", what,
                                           schema1 ? "schema1 signed payload" : "body", m.digest.str(), served)));
      }
    }
    done(std::move(m));
  };
  impl_->start(op);
}

void Client::get_referrers(const std::string& repository, const digest::Digest& d,
                           std::function<void(core::Result<std::optional<std::string>>)> done) {
  auto op = std::make_shared<Op>();
  op->method = "GET";
  op->registry_url = fmt::format("/v2/{}/referrers/{}", repository, d.str());
  op->scope = fmt::format("repository:{}:pull", repository);
  op->headers.push_back(fmt::format("Accept: {}", manifest::media::kOciIndex));
  op->max_body = manifest::kMaxManifestSize;
  ++impl_->stats.manifest_gets;
  op->done = [done = std::move(done)](core::Result<http::Response> r) {
    if (!r) {
      if (r.error().http_status == 404) return done(std::optional<std::string>{});
      return done(core::fail(r.error()));
    }
    done(std::optional<std::string>{std::move(r->body)});
  };
  impl_->start(op);
}

std::optional<std::chrono::milliseconds> blob_time_cap(const RetryPolicy& policy, uint64_t bytes) {
  if (policy.blob_min_rate == 0) return std::nullopt;
  const uint64_t ms = bytes / policy.blob_min_rate * 1000 + bytes % policy.blob_min_rate * 1000 / policy.blob_min_rate;
  return std::chrono::duration_cast<std::chrono::milliseconds>(policy.blob_time_base) + std::chrono::milliseconds(ms);
}

void Client::get_blob(const std::string& repository, const digest::Digest& d, core::ByteSink& sink,
                      std::function<void(core::Status)> done, int64_t size) {
  get_blob_op(repository, d, 0, 0, sink, std::move(done), size);
}

void Client::get_blob_range(const std::string& repository, const digest::Digest& d, uint64_t from, uint64_t to,
                            core::ByteSink& sink, std::function<void(core::Status)> done) {
  get_blob_op(repository, d, from, to, sink, std::move(done), -1);
}

void Client::get_blob_op(const std::string& repository, const digest::Digest& d, uint64_t from, uint64_t to,
                         core::ByteSink& sink, std::function<void(core::Status)> done, int64_t size) {
  auto op = std::make_shared<Op>();
  // A segment's sink holds its own bytes: the segment's length is its size.
  impl_->start_cap(*op, to > 0 ? static_cast<int64_t>(to - std::min(to, from)) : size, sink);
  op->range_base = from;
  op->range_end = to;
  op->method = "GET";
  op->registry_url = fmt::format("/v2/{}/blobs/{}", repository, d.str());
  op->scope = fmt::format("repository:{}:pull", repository);
  op->sink = &sink;
  ++impl_->stats.blob_gets;
  op->done = [done = std::move(done)](core::Result<http::Response> r) {
    if (!r) return done(core::fail(r.error()));
    done({});
  };
  impl_->start(op);
}

void Client::get_foreign(const std::string& url, bool allow_http, core::ByteSink& sink,
                         std::function<void(core::Status)> done, int64_t size) {
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && !(allow_http && url.rfind("http://", 0) == 0)) {
    return done(core::fail(core::ErrorKind::Denied,
                           fmt::format("foreign layer URL {}: only https (or http to a loopback or insecure host)",
                                       core::redact_url(url))));
  }
  auto op = std::make_shared<Op>();
  op->method = "GET";
  op->registry_url = url;
  op->url = url;
  op->anonymous = true;
  op->sink = &sink;
  impl_->start_cap(*op, size, sink);
  ++impl_->stats.blob_gets;
  op->done = [done = std::move(done)](core::Result<http::Response> r) {
    if (!r) return done(core::fail(r.error()));
    done({});
  };
  impl_->authorize_and_send(op);  // no ping: the URL is not the registry's API
}

// ---- uploads -------------------------------------------------------------------------

namespace {

std::string push_scope(const std::string& repository) { return fmt::format("repository:{}:pull,push", repository); }

std::string with_query(const std::string& url, std::string_view key, std::string_view value) {
  return fmt::format("{}{}{}={}", url, url.find('?') == std::string::npos ? '?' : '&', key, value);
}

// "0-1023" (or "bytes=0-1023"): the registry holds 1024 bytes. "0-0" is read as none:
// distribution writes it both for 0 and for 1 byte, and chunks are never 1 byte.
std::optional<uint64_t> held_bytes(std::string_view range) {
  if (auto eq = range.find('='); eq != std::string_view::npos) range.remove_prefix(eq + 1);
  auto dash = range.find('-');
  if (dash == std::string_view::npos || dash + 1 >= range.size()) return std::nullopt;
  uint64_t end = 0;
  for (char c : range.substr(dash + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    end = end * 10 + static_cast<uint64_t>(c - '0');
  }
  return end == 0 ? 0 : end + 1;
}

}  // namespace

// One blob upload: mount? → POST → (PUT | PATCH… → PUT), with status queries and
// restarts after failures. Lives in shared_ptrs captured by its ops' callbacks.
struct BlobUploadOp : std::enable_shared_from_this<BlobUploadOp> {
  std::shared_ptr<Client::Impl> impl;
  std::string repository;
  BlobUpload blob;
  UploadOptions opts;
  std::function<void(core::Result<UploadResult>)> done;
  UploadResult result;
  std::string location;   // current upload URL (absolute)
  uint64_t offset = 0;    // bytes the registry holds
  int failures = 0;       // failed steps in a row; the retry policy's budget
  bool finished = false;

  uint64_t size() const { return static_cast<uint64_t>(std::max<int64_t>(blob.size, 0)); }

  void finish(core::Result<UploadResult> r) {
    if (finished) return;
    finished = true;
    if (!r) r.error().context(fmt::format("upload {}", blob.digest.str()));
    done(std::move(r));
  }

  std::shared_ptr<Op> op(const std::string& method, const std::string& url) {
    auto o = std::make_shared<Op>();
    o->method = method;
    o->registry_url = url;
    o->scope = push_scope(repository);
    return o;
  }

  // The Location of a 202/204/201, resolved against the URL asked.
  bool take_location(const http::Response& r) {
    const std::string loc = r.header("location");
    if (loc.empty()) return false;
    location = resolve_location(r.effective_url, loc);
    return true;
  }

  core::Error missing_location(const http::Response& r, const std::string& what) {
    return core::error(core::ErrorKind::InvalidInput,
                       fmt::format("{}: HTTP {} without a Location header", what, r.status), static_cast<int>(r.status));
  }

  void start() {
    if (!opts.mount_from.empty() && opts.mount_from != repository) return mount();
    begin();
  }

  void mount() {
    auto self = shared_from_this();
    auto o = op("POST", fmt::format("/v2/{}/blobs/uploads/?mount={}&from={}", repository, blob.digest.str(),
                                    opts.mount_from));
    o->scope += fmt::format(" repository:{}:pull", opts.mount_from);
    o->body = http::Body{};
    o->done = [self](core::Result<http::Response> r) {
      if (r && r->status == 201) {
        self->result.mounted = true;
        ++self->impl->stats.blob_mounts;
        return self->finish(self->result);
      }
      if (r && r->status == 202 && self->take_location(*r)) {  // not mountable: an upload began instead
        self->offset = 0;
        return self->send();
      }
      if (!r) spdlog::debug("mount refused, uploading digest={} error={}", self->blob.digest.str(), r.error().message);
      self->begin();
    };
    impl->start(o);
  }

  void begin() {
    auto self = shared_from_this();
    auto o = op("POST", fmt::format("/v2/{}/blobs/uploads/", repository));
    o->body = http::Body{};
    o->done = [self](core::Result<http::Response> r) {
      if (!r) return self->finish(core::fail(r.error()));
      if (!self->take_location(*r)) return self->finish(core::fail(self->missing_location(*r, "POST blob upload")));
      self->offset = 0;
      self->send();
    };
    impl->start(o);
  }

  // The next step from `offset`: everything in one PUT, a chunk, or the closing PUT.
  void send() {
    auto self = shared_from_this();
    const uint64_t chunk = std::max<uint64_t>(opts.chunk_size, 1);
    std::shared_ptr<Op> o;
    uint64_t length = 0;
    if (offset == 0 && size() <= chunk) {
      length = size();
      o = op("PUT", with_query(location, "digest", blob.digest.str()));
    } else if (offset < size()) {
      length = std::min(chunk, size() - offset);
      o = op("PATCH", location);
      o->headers.push_back(fmt::format("Content-Range: {}-{}", offset, offset + length - 1));
    } else {
      o = op("PUT", with_query(location, "digest", blob.digest.str()));
    }
    o->headers.push_back("Content-Type: application/octet-stream");
    o->body = length > 0 ? http::Body{{}, blob.file, offset, length, blob.fd} : http::Body{};
    o->retry_safe = false;  // after a failure, ask the registry where it stands
    const bool closing = o->method == "PUT";
    o->done = [self, closing, length](core::Result<http::Response> r) {
      if (r) self->result.bytes_sent += r->bytes_sent;
      if (!r) return self->step_failed(r.error());
      self->failures = 0;
      if (closing) return self->closed(*r);
      self->offset += length;
      if (auto held = held_bytes(r->header("range")); held && *held > 0) self->offset = *held;
      if (!self->take_location(*r)) return self->finish(core::fail(self->missing_location(*r, "PATCH blob upload")));
      self->send();
    };
    impl->start(o);
  }

  void closed(const http::Response& r) {
    const std::string served = r.header("docker-content-digest");
    if (!served.empty()) {
      auto d = digest::Digest::parse(served);
      if (!d || *d != blob.digest) {
        return finish(core::fail(core::ErrorKind::DigestMismatch,
                                 fmt::format("registry stored the blob as {}", served)));
      }
    }
    ++impl->stats.blob_uploads;
    finish(result);
  }

  void step_failed(core::Error e) {
    if (e.registry_code == "DIGEST_INVALID" || e.registry_code == "SIZE_INVALID") {
      e.kind = core::ErrorKind::DigestMismatch;  // the registry hashed other bytes than ours
      return finish(core::fail(std::move(e)));
    }
    if (!e.retryable() && e.http_status != 404 && e.http_status != 416) return finish(core::fail(std::move(e)));
    if (++failures >= impl->opts.retry.max_attempts) return finish(core::fail(std::move(e)));
    const auto delay = impl->backoff(failures);
    spdlog::warn("upload step failed, asking the registry where it stands digest={} attempt={}/{} wait={}ms error={}",
                 blob.digest.short_hex(), failures + 1, impl->opts.retry.max_attempts, delay.count(), e.message);
    ++impl->stats.retries;
    auto self = shared_from_this();
    impl->engine.schedule(delay, [self] { self->status(); });
  }

  // GET <location>: 204 with the Range held; anything else means the upload is gone.
  void status() {
    auto self = shared_from_this();
    auto o = op("GET", location);
    o->done = [self](core::Result<http::Response> r) {
      if (r && (r->status == 204 || r->status == 200 || r->status == 202)) {
        self->offset = held_bytes(r->header("range")).value_or(0);
        self->take_location(*r);
        if (self->offset > self->size()) self->offset = 0;
        return self->send();
      }
      ++self->result.restarts;
      ++self->impl->stats.upload_restarts;
      spdlog::warn("upload lost by the registry, starting over digest={}", self->blob.digest.short_hex());
      self->begin();
    };
    impl->start(o);
  }
};

void Client::blob_exists(const std::string& repository, const digest::Digest& d,
                         std::function<void(core::Result<bool>)> done) {
  auto op = std::make_shared<Op>();
  op->method = "HEAD";
  op->registry_url = fmt::format("/v2/{}/blobs/{}", repository, d.str());
  op->scope = push_scope(repository);
  ++impl_->stats.blob_heads;
  op->done = [done = std::move(done)](core::Result<http::Response> r) {
    if (r) return done(true);
    if (r.error().http_status == 404) return done(false);
    done(core::fail(r.error()));
  };
  impl_->start(op);
}

void Client::upload_blob(const std::string& repository, const BlobUpload& blob, const UploadOptions& opts,
                         std::function<void(core::Result<UploadResult>)> done) {
  auto up = std::make_shared<BlobUploadOp>();
  up->impl = impl_;
  up->repository = repository;
  up->blob = blob;
  up->opts = opts;
  up->done = std::move(done);
  up->start();
}

void Client::put_manifest(const std::string& repository, const std::string& ref, std::string body,
                          const std::string& media_type, std::function<void(core::Result<digest::Digest>)> done) {
  auto op = std::make_shared<Op>();
  op->method = "PUT";
  op->registry_url = fmt::format("/v2/{}/manifests/{}", repository, ref);
  op->scope = push_scope(repository);
  op->headers.push_back("Content-Type: " + media_type);
  const digest::Digest ours = digest::sha256_of(body);
  op->body = http::Body{std::move(body), {}, 0, 0, {}};
  ++impl_->stats.manifest_puts;
  const std::string what = fmt::format("manifest {}:{}", repository, ref);
  op->done = [ours, what, done = std::move(done)](core::Result<http::Response> r) {
    if (!r) return done(core::fail(r.error()));
    const std::string served = r->header("docker-content-digest");
    if (!served.empty()) {
      auto d = digest::Digest::parse(served);
      if (!d || *d != ours) {
        return done(core::fail(core::ErrorKind::DigestMismatch,
                               fmt::format("{}: registry stored it as {}, the bytes hash to {}", what, served,
                                           ours.str())));
      }
    }
    done(ours);
  };
  impl_->start(op);
}

}  // namespace ferry::registry

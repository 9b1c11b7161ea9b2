// The curl multi loop: transfers in, completions out.
//
// Each Transfer owns its easy handle, header list, error buffer and collected
// response; curl points back at it through CURLOPT_PRIVATE, so it never moves. Only
// the loop detaches a finished transfer, outside curl callbacks: remove the handle,
// build the Response, destroy the Transfer, then run the completion (which may
// submit more). The write callback feeds the sink and nothing else.
#include "http/engine.h"

#include "core/redact.h"
#include "http/content_range.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

namespace ferry::http {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

core::Error curl_error(CURLcode code, const char* errbuf, const std::string& what) {
  core::ErrorKind kind = core::ErrorKind::Network;
  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: kind = core::ErrorKind::Timeout; break;
    case CURLE_PEER_FAILED_VERIFICATION:
      detail = "TLS certificate verification failed (" + detail + ")";
      break;
    default: break;
  }
  return core::error(kind, what + ": " + detail);
}

}  // namespace

std::string Response::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
  Request req;
  Completion done;
  Response resp;
  std::optional<core::Error> sink_error;
  bool body_started = false;
  bool error_body_cut = false;  // a non-2xx body hit max_body: transfer stopped, answer kept
  bool to_sink = false;
  SteadyClock::time_point started;
  std::optional<SteadyClock::time_point> give_up_at;  // req.max_time on the engine's clock
  int body_fd = -1;        // open file of a file body
  uint64_t body_pos = 0;   // next body byte to hand to curl

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    if (header_list) curl_slist_free_all(header_list);
    if (body_fd >= 0) ::close(body_fd);
  }

  // The request body, as curl asks for it: from memory, or pread from the file.
  static size_t on_read(char* buf, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    const Body& body = *self->req.body;
    const uint64_t left = body.size() - std::min(body.size(), self->body_pos);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
    if (want == 0) return 0;
    if (body.file.empty()) {
      std::memcpy(buf, body.data.data() + self->body_pos, want);
      self->body_pos += want;
      return want;
    }
    ssize_t got;
    do {
      got = ::pread(self->body_fd, buf, want, static_cast<off_t>(body.offset + self->body_pos));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      self->sink_error = got == 0 ? core::error(core::ErrorKind::Io, body.file + ": shorter than the upload expects")
                                  : core::errno_error("read", body.file, errno);
      return CURL_READFUNC_ABORT;
    }
    self->body_pos += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }

  // curl rewinds a body it must send again (a reused connection that closed).
  static int on_seek(void* self_ptr, curl_off_t offset, int origin) {
    auto* self = static_cast<Transfer*>(self_ptr);
    if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > self->req.body->size()) {
      return CURL_SEEKFUNC_CANTSEEK;
    }
    self->body_pos = static_cast<uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }

  // Decide, at the first body byte, where the body goes.
  bool start_body() {
    body_started = true;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.status);
    to_sink = req.sink != nullptr && resp.status >= 200 && resp.status < 300;
    if (!to_sink) return true;
    if (resp.status == 200 && (req.range_from > 0 || req.range_to > 0)) {
      if (auto st = req.sink->restart(); !st) {
        sink_error = st.error();
        return false;
      }
    } else if (resp.status == 206) {
      auto range = parse_content_range(resp.header("content-range"));
      if (!range || range->first != req.range_from) {
        sink_error = core::error(core::ErrorKind::RangeIgnored,
                                 fmt::format("206 answer starts at {}, asked for {}",
                                             range ? std::to_string(range->first) : "?", req.range_from), 206);
        return false;
      }
    }
    return true;
  }

  static size_t on_body(char* data, size_t, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    if (!self->body_started && !self->start_body()) return CURL_WRITEFUNC_ERROR;
    self->resp.body_bytes += n;
    if (self->to_sink) {
      if (auto st = self->req.sink->write(data, n); !st) {
        self->sink_error = st.error();
        return CURL_WRITEFUNC_ERROR;
      }
      return n;
    }
    if (self->resp.body.size() + n > self->req.max_body) {
      if (self->resp.status < 200 || self->resp.status >= 300) {
        // An error page: its start is enough for the message, and the status must
        // survive (a 503 is retried, a SizeMismatch would not be). Stop reading here.
        self->resp.body.append(data, self->req.max_body - self->resp.body.size());
        self->error_body_cut = true;
        return CURL_WRITEFUNC_ERROR;
      }
      self->sink_error = core::error(core::ErrorKind::SizeMismatch,
                                     fmt::format("response body over the {} byte limit", self->req.max_body));
      return CURL_WRITEFUNC_ERROR;
    }
    self->resp.body.append(data, n);
    return n;
  }

  static size_t on_header(char* data, size_t, size_t n, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    std::string_view line(data, n);
    if (line.substr(0, 5) == "HTTP/") {  // a new response (1xx, proxy): start over
      self->resp.headers.clear();
      return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    self->resp.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    return n;
  }
};

struct Timer {
  SteadyClock::time_point when;
  uint64_t seq;
  std::function<void()> fn;
  bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
};

struct Engine::Impl {
  CurlGlobal global;
  CURLM* multi = nullptr;
  EngineOptions opts;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  uint64_t timer_seq = 0;
  std::optional<core::Error> aborted;  // set by abort() until run() returns
  Stats* stats = nullptr;

  // offload(): works run one at a time, in order, on a Lane of the executor (the
  // process's pool, or one thread of the engine's own).
  std::shared_ptr<core::Executor> executor;
  std::optional<core::Executor::Lane> lane;     // before curl cleanup in ~Impl: works wake `multi`
  std::mutex mu;
  std::deque<std::function<void()>> to_finish;  // guarded by mu: works done, `then` due
  size_t offloaded = 0;                         // loop thread: offloads whose `then` has not run
  const std::atomic<bool>* cancelled = nullptr;  // Engine::cancelled_

  // On the lane: after cancel() no new work starts, even before the loop has seen
  // it and dropped the queue (cancel() itself only stores a flag).
  void run_offloaded(std::function<void()>& work, std::function<void()>& then) {
    if (cancelled->load()) return;
    work();
    work = nullptr;  // what the work captured goes here, off the loop
    {
      std::lock_guard lock(mu);
      to_finish.push_back(std::move(then));
    }
    curl_multi_wakeup(multi);
  }

  // Loop thread: run the `then` of every finished work.
  void run_finished() {
    std::deque<std::function<void()>> due;
    {
      std::lock_guard lock(mu);
      due.swap(to_finish);
    }
    for (auto& then : due) {
      --offloaded;
      then();
    }
  }

  // Loop thread, after cancel(): let the running work end, forget the rest.
  void drop_offloaded() {
    std::deque<std::function<void()>> dropped;   // destroyed here, on the loop
    std::deque<std::function<void()>> finished;  // likewise: these `then`s never run
    if (lane) dropped = lane->drop();  // first, or the lane would start the next one
    {
      std::lock_guard lock(mu);
      finished.swap(to_finish);
    }
    offloaded = 0;
  }

  // Detach a finished transfer and run its completion (never inside a curl callback).
  void finish(CURL* easy, CURLcode code) {
    auto it = transfers.find(easy);
    FERRY_CHECK(it != transfers.end());
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers.erase(it);
    curl_multi_remove_handle(multi, easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
    char* eff = nullptr;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff) t->resp.effective_url = eff;
    t->resp.seconds = std::chrono::duration<double>(opts.clock->now() - t->started).count();
    stats->body_bytes += t->resp.body_bytes;
    t->resp.bytes_sent = t->body_pos;
    stats->bytes_sent += t->body_pos;
    Completion cb = std::move(t->done);
    core::Result<Response> result = std::move(t->resp);
    if (t->sink_error) {
      result = core::fail(*t->sink_error);
    } else if (code == CURLE_PARTIAL_FILE && !t->to_sink && t->resp.status >= 400) {
      // An error page cut short (a Go registry that declared the blob's length on a
      // 416): the status is the answer, not the short read.
    } else if (code != CURLE_OK && !t->error_body_cut) {
      result = core::fail(curl_error(code, t->errbuf, t->req.method + " " + core::redact_url(t->req.url)));
    }
    t.reset();
    cb(std::move(result));
  }

  // Complete every transfer past its max_time with a Timeout, as curl would have.
  void expire_overdue() {
    const auto now = opts.clock->now();
    std::vector<CURL*> overdue;
    for (const auto& [easy, t] : transfers) {
      if (t->give_up_at && *t->give_up_at <= now) overdue.push_back(easy);
    }
    for (CURL* easy : overdue) {
      Transfer& t = *transfers.at(easy);
      t.sink_error = core::error(core::ErrorKind::Timeout,
                                 fmt::format("{} {}: Operation timed out after {} milliseconds", t.req.method,
                                             core::redact_url(t.req.url), t.req.max_time.count()));
      finish(easy, CURLE_OPERATION_TIMEDOUT);
    }
  }

  // Complete every transfer in flight with `why`.
  void fail_all(const core::Error& why) {
    while (!transfers.empty()) {
      auto it = transfers.begin();
      Transfer* t = it->second.get();
      t->sink_error = why;
      finish(t->easy, CURLE_ABORTED_BY_CALLBACK);
    }
  }

  ~Impl() {
    lane.reset();  // forgets what is queued, waits for the running work
    for (auto& [easy, t] : transfers) curl_multi_remove_handle(multi, easy);
    transfers.clear();
    if (multi) curl_multi_cleanup(multi);
  }
};

Engine::Engine(EngineOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  if (!impl_->opts.clock) impl_->opts.clock = core::real_clock();
  impl_->executor = impl_->opts.executor;
  impl_->stats = &stats_;
  impl_->cancelled = &cancelled_;
  impl_->multi = curl_multi_init();
  FERRY_CHECK(impl_->multi != nullptr);
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, impl_->opts.max_total_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, impl_->opts.max_host_connections);
}

Engine::~Engine() = default;

size_t Engine::in_flight() const { return impl_->transfers.size(); }

void Engine::submit(Request req, Completion done) {
  if (cancelled_.load()) {
    done(core::fail(core::ErrorKind::Cancelled, "cancelled"));
    return;
  }
  if (impl_->aborted) {
    done(core::fail(*impl_->aborted));
    return;
  }
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  FERRY_CHECK(t->easy != nullptr);
  t->req = std::move(req);
  t->done = std::move(done);
  t->started = impl_->opts.clock->now();
  if (t->req.max_time.count() > 0) t->give_up_at = t->started + t->req.max_time;
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_USERAGENT, impl_->opts.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as served: digests cover them
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(t->req.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(t->req.stall_timeout.count()));
  if (t->req.max_time.count() > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->req.max_time.count()));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->req.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->req.verify_tls ? 2L : 0L);
  if (!t->req.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, t->req.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  if (t->req.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (t->req.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method.c_str());
  }
  if (t->req.body) {
    if (t->req.body->fd) {
      t->body_fd = ::dup(t->req.body->fd->get());
      if (t->body_fd < 0) {
        done = std::move(t->done);
        done(core::fail(core::errno_error("dup", t->req.body->file, errno)));
        return;
      }
    } else if (!t->req.body->file.empty()) {
      t->body_fd = ::open(t->req.body->file.c_str(), O_RDONLY | O_CLOEXEC);
      if (t->body_fd < 0) {
        done = std::move(t->done);
        done(core::fail(core::errno_error("open", t->req.body->file, errno)));
        return;
      }
    }
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t->req.body->size()));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t.get());
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &Transfer::on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t.get());
    t->req.headers.push_back("Expect:");  // no 100-continue round trip
  }
  if (t->req.range_from > 0 || t->req.range_to > 0) {
    std::string range = std::to_string(t->req.range_from) + "-";
    if (t->req.range_to > 0) range += std::to_string(t->req.range_to - 1);
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());  // curl copies the string
  }
  for (const auto& h : t->req.headers) t->header_list = curl_slist_append(t->header_list, h.c_str());
  if (t->header_list) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
  ++stats_.requests;
  curl_multi_add_handle(impl_->multi, e);
  impl_->transfers.emplace(e, std::move(t));
}

void Engine::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
  if (impl_->aborted) return;
  impl_->timers.push(Timer{impl_->opts.clock->now() + delay, impl_->timer_seq++, std::move(fn)});
}

void Engine::offload(std::function<void()> work, std::function<void()> then) {
  if (!impl_->lane) {
    if (!impl_->executor) impl_->executor = std::make_shared<core::Executor>(1);
    impl_->lane.emplace(*impl_->executor);
  }
  ++impl_->offloaded;
  impl_->lane->post([impl = impl_.get(), work = std::move(work), then = std::move(then)]() mutable {
    impl->run_offloaded(work, then);
  });
}

core::Executor& Engine::executor() {
  if (!impl_->executor) impl_->executor = std::make_shared<core::Executor>(1);
  return *impl_->executor;
}

void Engine::cancel() {
  cancelled_.store(true);
  curl_multi_wakeup(impl_->multi);
}

void Engine::abort(const core::Error& why) {
  impl_->aborted = why;
  while (!impl_->timers.empty()) impl_->timers.pop();
  impl_->fail_all(why);
  while (!impl_->timers.empty()) impl_->timers.pop();  // completions may have scheduled more
}

core::Clock& Engine::clock() const { return *impl_->opts.clock; }

bool Engine::idle() const {
  return impl_->transfers.empty() && impl_->timers.empty() && impl_->offloaded == 0;
}

core::Status Engine::run(const std::function<bool()>& done) {
  struct ClearAbort {
    Impl& impl;
    ~ClearAbort() { impl.aborted.reset(); }
  } clear_abort{*impl_};
  for (;;) {
    if (cancelled_.load()) {
      impl_->fail_all(core::error(core::ErrorKind::Cancelled, "cancelled"));
      while (!impl_->timers.empty()) impl_->timers.pop();
      impl_->drop_offloaded();
      return core::fail(core::ErrorKind::Cancelled, "cancelled");
    }
    impl_->run_finished();
    // Due timers.
    auto now = impl_->opts.clock->now();
    while (!impl_->timers.empty() && impl_->timers.top().when <= now) {
      auto fn = impl_->timers.top().fn;
      impl_->timers.pop();
      fn();
    }
    if (done ? done() : idle()) return {};
    int running = 0;
    curl_multi_perform(impl_->multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(impl_->multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) impl_->finish(msg->easy_handle, msg->data.result);
    }
    impl_->expire_overdue();
    if (done ? done() : idle()) return {};
    // Nothing but a timer to wait for: a manual clock jumps to it.
    if (impl_->transfers.empty() && impl_->offloaded == 0 && !impl_->timers.empty() &&
        impl_->opts.clock->skip_to(impl_->timers.top().when)) {
      continue;
    }
    const int64_t longest = impl_->opts.clock->longest_wait().count();
    int timeout_ms = static_cast<int>(longest);
    if (!impl_->timers.empty()) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(impl_->timers.top().when -
                                                                        impl_->opts.clock->now());
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, longest));
    }
    if (!impl_->transfers.empty() || timeout_ms > 0) {
      curl_multi_poll(impl_->multi, nullptr, 0, timeout_ms, nullptr);
    }
  }
}

core::Result<Response> Engine::perform(Request req) {
  std::optional<core::Result<Response>> out;
  submit(std::move(req), [&out](core::Result<Response> r) { out = std::move(r); });
  auto st = run([&out] { return out.has_value(); });
  if (!out) return core::fail(st ? core::error(core::ErrorKind::Internal, "request lost") : st.error());
  return std::move(*out);
}

}  // namespace ferry::http

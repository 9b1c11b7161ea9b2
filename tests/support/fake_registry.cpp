// FakeRegistry: one poll() loop over a listening socket, a self-pipe and clients.
//
// Each connection holds its unparsed input (bounded) and at most one pending answer
// with the time it may be sent (delay_ms). A request is parsed only when the previous
// answer has gone out, so a keep-alive connection is served strictly in order. A
// connection that must close (Connection: close, cut_after) shuts its write side once
// the answer is out and then reads until the client closes: closing with unread input
// would reset the connection and could discard bytes the client has not read yet.
#include "support/fake_registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace ferry::testing {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxRequestBytes = 16 << 20;  // head and body of one request (uploads in tests are small)
constexpr size_t kMaxConnections = 256;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

[[noreturn]] void fail_errno(const char* what) {
  throw std::runtime_error(std::string("FakeRegistry: ") + what + ": " + std::strerror(errno));
}

// Parses "METHOD target HTTP/1.x\r\nName: value\r\n..." (the head without its blank line).
std::optional<FakeRequest> parse_head(std::string_view head) {
  FakeRequest req;
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || line.substr(sp2 + 1, 5) != "HTTP/") return std::nullopt;
  req.method = std::string(line.substr(0, sp1));
  req.path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view h = head.substr(0, eol);
    auto colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    req.headers[lower(trim(h.substr(0, colon)))] = std::string(trim(h.substr(colon + 1)));
  }
  return req;
}

}  // namespace

std::string FakeRequest::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct FakeRegistry::Conn {
  int fd = -1;
  std::string in;        // received, not yet parsed
  std::string out;       // the pending answer
  size_t out_off = 0;
  Clock::time_point send_at{};
  std::string path;          // of the request being answered, for the hold
  bool close_after = false;  // shut down writing once `out` is sent
  bool draining = false;     // write side shut: discard input until the client closes
  bool dead = false;

  bool sending() const { return out_off < out.size(); }
};

FakeRegistry::FakeRegistry(FakeHandler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail_errno("socket");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail_errno("bind");
  if (::listen(listen_fd_, 128) != 0) fail_errno("listen");
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail_errno("getsockname");
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) fail_errno("pipe2");
  thread_ = std::thread([this] { loop(); });
}

FakeRegistry::~FakeRegistry() {
  char stop = 1;
  while (::write(wake_[1], &stop, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::close(listen_fd_);
}

void FakeRegistry::set_handler(FakeHandler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

std::string FakeRegistry::host() const { return "127.0.0.1:" + std::to_string(port_); }

std::string FakeRegistry::url(std::string_view path) const { return "http://" + host() + std::string(path); }

std::vector<FakeRequest> FakeRegistry::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeRegistry::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

size_t FakeRegistry::non_http_connections() const {
  std::lock_guard lock(mu_);
  return non_http_;
}

void FakeRegistry::loop() {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = Clock::now();
    int timeout_ms = -1;
    fds.assign({pollfd{wake_[0], POLLIN, 0}, pollfd{listen_fd_, POLLIN, 0}});
    for (const auto& c : conns) {
      short events = POLLIN;
      if (c->sending()) {
        events = 0;  // one answer at a time; errors and hangups are reported anyway
        if (c->send_at <= now && held(c->path)) {
          timeout_ms = timeout_ms < 0 ? 5 : std::min(timeout_ms, 5);
        } else if (c->send_at <= now) {
          events = POLLOUT;
        } else {
          auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(c->send_at - now).count() + 1;
          timeout_ms = timeout_ms < 0 ? static_cast<int>(wait) : std::min(timeout_ms, static_cast<int>(wait));
        }
      }
      fds.push_back(pollfd{c->fd, events, 0});
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;  // stop requested
    const size_t existing = conns.size();
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (conns.size() >= kMaxConnections) {
          ::close(fd);
          continue;
        }
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        conns.push_back(std::move(c));
      }
    }
    for (size_t i = 0; i < existing; ++i) {
      Conn& c = *conns[i];
      const short rev = fds[i + 2].revents;
      if (rev & (POLLERR | POLLNVAL)) {
        c.dead = true;
      } else if (rev & POLLOUT) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) c.dead = true;
        if (n > 0) c.out_off += static_cast<size_t>(n);
        if (!c.dead && !c.sending()) {
          c.out.clear();
          c.out_off = 0;
          if (c.close_after) {
            ::shutdown(c.fd, SHUT_WR);
            c.draining = true;
          } else {
            c.dead = !on_readable(c);  // a request may already be waiting
          }
        }
      } else if (rev & (POLLIN | POLLHUP)) {
        char buf[16 << 10];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          c.dead = true;
        } else if (n > 0 && !c.draining) {
          c.in.append(buf, static_cast<size_t>(n));
          c.dead = c.in.size() > kMaxRequestBytes || !on_readable(c);
        }
      }
    }
    for (auto& c : conns) {
      if (c->dead) ::close(c->fd);
    }
    std::erase_if(conns, [](const auto& c) { return c->dead; });
  }
  for (auto& c : conns) ::close(c->fd);
}

// Parses the next complete request in `c.in`, if any, and queues its answer. False
// when the connection must close now (not HTTP, malformed).
bool FakeRegistry::on_readable(Conn& c) {
  if (c.sending() || c.draining || c.in.empty()) return true;
  if (!std::isupper(static_cast<unsigned char>(c.in[0]))) {  // e.g. 0x16, a TLS handshake
    std::lock_guard lock(mu_);
    ++non_http_;
    return false;
  }
  auto end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) return true;
  auto req = parse_head(std::string_view(c.in).substr(0, end));
  if (!req) return false;
  size_t body = 0;
  if (auto cl = req->header("content-length"); !cl.empty()) body = std::strtoul(cl.c_str(), nullptr, 10);
  if (body > kMaxRequestBytes) return false;
  if (c.in.size() < end + 4 + body) return true;  // wait for the request body
  req->body = c.in.substr(end + 4, body);
  c.in.erase(0, end + 4 + body);
  respond(c, *req);
  return true;
}

void FakeRegistry::set_hold(std::function<bool(const std::string&)> hold) {
  std::lock_guard lock(mu_);
  hold_ = std::move(hold);
}

bool FakeRegistry::held(const std::string& path) {
  std::function<bool(const std::string&)> hold;
  {
    std::lock_guard lock(mu_);
    hold = hold_;
  }
  return hold && hold(path);
}

void FakeRegistry::respond(Conn& c, const FakeRequest& req) {
  FakeHandler handler;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
    handler = handler_;
  }
  FakeResponse resp = handler ? handler(req) : FakeResponse{404, {}, "not found", std::nullopt, 0};
  bool has_length = false, has_connection = false;
  bool close = lower(req.header("connection")).find("close") != std::string::npos || resp.cut_after.has_value();
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
  for (const auto& [name, value] : resp.headers) {
    const std::string key = lower(name);
    has_length = has_length || key == "content-length";
    has_connection = has_connection || key == "connection";
    if (key == "connection" && lower(value).find("close") != std::string::npos) close = true;
    out += name + ": " + value + "\r\n";
  }
  if (!has_length) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  if (close && !has_connection) out += "Connection: close\r\n";
  out += "\r\n";
  if (req.method != "HEAD") out += resp.body.substr(0, resp.cut_after.value_or(std::string::npos));
  c.out = std::move(out);
  c.out_off = 0;
  c.send_at = Clock::now() + std::chrono::milliseconds(resp.delay_ms);
  c.path = req.path;
  c.close_after = close;
}

}  // namespace ferry::testing

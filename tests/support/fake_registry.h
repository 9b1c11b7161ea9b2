// FakeRegistry: a scripted in-process HTTP/1.1 server for http and registry tests.
//
// It listens on 127.0.0.1 at a kernel-chosen port and serves every connection from
// one background thread (poll over the listening socket and the clients; keep-alive,
// HEAD and `Connection: close` as HTTP/1.1 says). What it answers is up to a handler
// the test supplies; the response can carry faults: a body cut after N bytes (then
// the connection closes) or a delayed answer (the loop keeps serving others). Every
// request is recorded for later assertions. Bytes that are not HTTP (a TLS
// ClientHello from an https attempt) close the connection at once, so clients fail
// fast instead of waiting for a handshake. The destructor stops and joins the thread.
//
// The handler runs on the server thread: state it shares with the test must be
// atomic or locked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ferry::testing {

struct FakeRequest {
  std::string method;
  std::string path;                            // request target: path and query
  std::map<std::string, std::string> headers;  // names lowercased; last one wins
  std::string body;                            // the request body (Content-Length bytes)

  std::string header(const std::string& name) const;  // "" when absent
  bool has_header(const std::string& name) const { return headers.count(name) != 0; }
  std::string path_only() const { return path.substr(0, path.find('?')); }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added unless given
  std::string body;
  std::optional<size_t> cut_after;  // send only this many body bytes, then close
  int delay_ms = 0;                 // hold the answer this long (other connections go on)
};

using FakeHandler = std::function<FakeResponse(const FakeRequest&)>;

class FakeRegistry {
 public:
  // Without a handler every request is answered 404.
  explicit FakeRegistry(FakeHandler handler = nullptr);
  ~FakeRegistry();
  FakeRegistry(const FakeRegistry&) = delete;
  FakeRegistry& operator=(const FakeRegistry&) = delete;

  void set_handler(FakeHandler handler);
  // While `hold(path)` is true for a request's path, its answer waits (looked at
  // every 5 ms; other connections go on). For "answer only once X has happened"
  // without guessing a delay. Called on the server's thread.
  void set_hold(std::function<bool(const std::string& path)> hold);

  uint16_t port() const { return port_; }
  std::string host() const;                   // "127.0.0.1:PORT"
  std::string url(std::string_view path) const;  // "http://127.0.0.1:PORT" + path

  std::vector<FakeRequest> requests() const;  // a copy, in arrival order
  size_t request_count() const;
  size_t non_http_connections() const;        // closed because the first bytes were not HTTP

 private:
  struct Conn;
  void loop();
  bool on_readable(Conn& c);
  bool held(const std::string& path);
  void respond(Conn& c, const FakeRequest& req);

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // self-pipe: the destructor's stop signal
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  FakeHandler handler_;
  std::function<bool(const std::string&)> hold_;
  std::vector<FakeRequest> requests_;
  size_t non_http_ = 0;
};

}  // namespace ferry::testing

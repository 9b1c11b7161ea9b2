// ClientPool: one registry::Client per registry API host, for a pull or a push run.
//
// The first reference naming a host creates its Client, with the RegistryOptions the
// callback gives for the reference's domain (credentials, insecure, retry policy and
// the registry's own concurrency cap); later references to the same host share it,
// so they share its ping, its tokens and its cap. All Clients share one TokenCache.
//
// It also counts the run's requests in flight (slots): at most `limit` in all, and
// no more per Client than its registry's cap, so pull and push admit work alike.
//
// Loop thread only, like Client. The pool owns its Clients: the pointers it hands out
// stay valid until it is destroyed; the engine and token cache must outlive it.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "auth/auth.h"
#include "http/engine.h"
#include "reference/reference.h"
#include "registry/client.h"

namespace ferry::registry {

class ClientPool {
 public:
  // `options` maps a reference's domain (docker.io, host:5000) to its options; empty:
  // default RegistryOptions for every registry.
  using OptionsFn = std::function<RegistryOptions(const std::string& domain)>;

  // `limit`: requests in flight over all registries (<= 0: none).
  ClientPool(http::Engine& engine, auth::TokenCache& tokens, OptionsFn options, int limit = 0);
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // The Client for ref's API host (ref.api_host()), created on first use. Never null.
  Client* get(const reference::Reference& ref);

  // The Client's own cap on requests in flight (RegistryOptions::max_concurrency;
  // 0 = none). `client` must come from get().
  int cap(const Client* client) const;

  size_t size() const { return clients_.size(); }

  // Slots: how many more requests to `client` may start now (the run's limit and
  // the registry's cap), taking and giving back one, and all taken.
  int free_slots(const Client* client) const;
  void acquire(const Client* client);
  void release(const Client* client);
  int in_flight() const { return in_flight_; }

  // The first item of [first, last) whose Client has a free slot, or `last`.
  template <class It, class ClientOf>
  It first_admissible(It first, It last, ClientOf client_of) const {
    if (limit_ > 0 && in_flight_ >= limit_) return last;
    return std::find_if(first, last, [&](const auto& item) { return free_slots(client_of(item)) > 0; });
  }

 private:
  http::Engine& engine_;
  auth::TokenCache& tokens_;
  OptionsFn options_;
  std::map<std::string, std::unique_ptr<Client>> clients_;  // by API host
  std::map<const Client*, int> caps_;                      // RegistryOptions::max_concurrency
  std::map<const Client*, int> taken_;                     // slots in use per Client
  int limit_ = 0;
  int in_flight_ = 0;
};

}  // namespace ferry::registry

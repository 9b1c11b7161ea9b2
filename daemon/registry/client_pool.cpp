// ClientPool: one Client per API host, created on first use with the options of its domain.
#include "registry/client_pool.h"

#include <climits>

#include "core/error.h"

namespace ferry::registry {

ClientPool::ClientPool(http::Engine& engine, auth::TokenCache& tokens, OptionsFn options, int limit)
    : engine_(engine), tokens_(tokens), options_(std::move(options)), limit_(limit) {}

Client* ClientPool::get(const reference::Reference& ref) {
  const std::string host = ref.api_host();
  if (auto it = clients_.find(host); it != clients_.end()) return it->second.get();
  RegistryOptions ro = options_ ? options_(ref.domain) : RegistryOptions{};
  const int cap = ro.max_concurrency;
  auto client = std::make_unique<Client>(engine_, host, std::move(ro), tokens_);
  Client* raw = client.get();
  caps_[raw] = cap;
  clients_.emplace(host, std::move(client));
  return raw;
}

int ClientPool::cap(const Client* client) const {
  auto it = caps_.find(client);
  FERRY_CHECK(it != caps_.end());  // a Client this pool did not make
  return it->second;
}

int ClientPool::free_slots(const Client* client) const {
  int n = limit_ > 0 ? limit_ - in_flight_ : INT_MAX;
  if (const int c = cap(client); c > 0) {
    auto it = taken_.find(client);
    n = std::min(n, c - (it == taken_.end() ? 0 : it->second));
  }
  return n;
}

void ClientPool::acquire(const Client* client) {
  ++in_flight_;
  ++taken_[client];
}

void ClientPool::release(const Client* client) {
  auto it = taken_.find(client);
  FERRY_CHECK(it != taken_.end() && it->second > 0 && in_flight_ > 0);  // released more than acquired
  --it->second;
  --in_flight_;
}

}  // namespace ferry::registry

// ClientPool: one Client per API host, created on first use with the options of its domain.
#include "registry/client_pool.h"

#include "core/error.h"

namespace ferry::registry {

ClientPool::ClientPool(http::Engine& engine, auth::TokenCache& tokens, OptionsFn options)
    : engine_(engine), tokens_(tokens), options_(std::move(options)) {}

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

}  // namespace ferry::registry

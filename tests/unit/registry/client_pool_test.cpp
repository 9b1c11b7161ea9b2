// ClientPool: one Client per API host (docker.io's is registry-1.docker.io), made
// with the options its domain maps to, and the registry's own cap remembered.
#include "registry/client_pool.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/auth.h"
#include "http/engine.h"
#include "reference/reference.h"

namespace ferry::registry {
namespace {

reference::Reference parse_ref(const std::string& text) {
  auto r = reference::parse(text);
  EXPECT_TRUE(r.has_value()) << text;
  return *r;
}

class ClientPoolTest : public ::testing::Test {
 protected:
  http::Engine engine_;
  auth::TokenCache tokens_;
  std::vector<std::string> asked_;  // domains the options callback was called for
  ClientPool pool_{engine_, tokens_, [this](const std::string& domain) {
                     asked_.push_back(domain);
                     RegistryOptions ro;
                     if (domain == "127.0.0.1:5000") ro.max_concurrency = 3;
                     if (domain == "docker.io") ro.max_concurrency = 7;
                     return ro;
                   }};
};

TEST(ClientPoolSlots, TheRunLimitAndEachRegistrysCapBoundAdmission) {
  http::Engine engine;
  auth::TokenCache tokens;
  ClientPool pool{engine, tokens,
                  [](const std::string& domain) {
                    RegistryOptions ro;
                    if (domain == "capped.example") ro.max_concurrency = 1;
                    return ro;
                  },
                  3};
  Client* capped = pool.get(parse_ref("capped.example/a:1"));
  Client* open = pool.get(parse_ref("open.example/b:1"));
  EXPECT_EQ(pool.free_slots(capped), 1);
  EXPECT_EQ(pool.free_slots(open), 3);
  std::vector<Client*> queue{capped, capped, open, open, open};
  auto self = [](Client* c) { return c; };

  auto it = pool.first_admissible(queue.begin(), queue.end(), self);
  ASSERT_EQ(it, queue.begin());
  pool.acquire(capped);
  // The capped registry is full: the next admissible item is the first open one.
  it = pool.first_admissible(queue.begin(), queue.end(), self);
  EXPECT_EQ(it - queue.begin(), 2);
  pool.acquire(open);
  pool.acquire(open);
  EXPECT_EQ(pool.in_flight(), 3);
  EXPECT_EQ(pool.free_slots(open), 0);  // the run's limit
  EXPECT_EQ(pool.first_admissible(queue.begin(), queue.end(), self), queue.end());
  pool.release(capped);
  EXPECT_EQ(pool.first_admissible(queue.begin(), queue.end(), self), queue.begin());
  EXPECT_EQ(pool.in_flight(), 2);
}

TEST_F(ClientPoolTest, SameHostSameClient) {
  Client* a = pool_.get(parse_ref("127.0.0.1:5000/lab/app:1"));
  Client* b = pool_.get(parse_ref("127.0.0.1:5000/other/thing@sha256:" + std::string(64, 'a')));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->host(), "127.0.0.1:5000");
  EXPECT_EQ(pool_.size(), 1u);
  EXPECT_EQ(asked_, std::vector<std::string>{"127.0.0.1:5000"});  // options looked up once per host
}

TEST_F(ClientPoolTest, DifferentHostsDifferentClients) {
  Client* local = pool_.get(parse_ref("127.0.0.1:5000/lab/app:1"));
  Client* other_port = pool_.get(parse_ref("127.0.0.1:5001/lab/app:1"));
  Client* hub = pool_.get(parse_ref("ubuntu:24.04"));
  Client* hub_again = pool_.get(parse_ref("docker.io/library/alpine"));
  EXPECT_NE(local, other_port);
  EXPECT_NE(local, hub);
  EXPECT_NE(other_port, hub);
  EXPECT_EQ(hub, hub_again);
  EXPECT_EQ(hub->host(), "registry-1.docker.io");  // the API host, options by domain
  EXPECT_EQ(pool_.size(), 3u);
  EXPECT_EQ(asked_, (std::vector<std::string>{"127.0.0.1:5000", "127.0.0.1:5001", "docker.io"}));
}

TEST_F(ClientPoolTest, CapComesFromTheOptions) {
  Client* local = pool_.get(parse_ref("127.0.0.1:5000/lab/app:1"));
  Client* uncapped = pool_.get(parse_ref("127.0.0.1:5001/lab/app:1"));
  Client* hub = pool_.get(parse_ref("ubuntu:24.04"));
  EXPECT_EQ(pool_.cap(local), 3);
  EXPECT_EQ(pool_.cap(uncapped), 0);
  EXPECT_EQ(pool_.cap(hub), 7);
}

TEST(ClientPool, NoOptionsCallbackMeansDefaults) {
  http::Engine engine;
  auth::TokenCache tokens;
  ClientPool pool(engine, tokens, {});
  Client* c = pool.get(parse_ref("127.0.0.1:5000/lab/app:1"));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.cap(c), 0);
}

TEST(ClientPoolDeathTest, CapOfAForeignClientIsABug) {
  http::Engine engine;
  auth::TokenCache tokens;
  ClientPool pool(engine, tokens, {});
  Client foreign(engine, "127.0.0.1:5000", {}, tokens);
  EXPECT_DEATH((void)pool.cap(&foreign), "");
}

}  // namespace
}  // namespace ferry::registry

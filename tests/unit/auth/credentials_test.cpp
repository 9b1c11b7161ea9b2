// Credentials: base64 (RFC 4648 vectors and malformed input), Basic authorization,
// registry host normalisation, Docker config.json variants (auth with ':' in the
// password, identitytoken, Docker Hub aliases, http:// key with a port, credsStore,
// malformed JSON, bad base64) and load_default's file lookup.
#include <string>

#include "auth/auth.h"
#include "auth_test_util.h"

namespace ferry::auth {
namespace {

// --- base64 -------------------------------------------------------------------------

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    SCOPED_TRACE(plain);
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= bytes.size(); len += 37) {
    std::string chunk = bytes.substr(bytes.size() - len);
    EXPECT_EQ(base64_decode(base64_encode(chunk)), chunk);
  }
  EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, UnpaddedInputIsAccepted) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_EQ(base64_decode("Zm9vYmE"), "fooba");
}

TEST(Base64, MalformedInputIsRejected) {
  for (const char* bad : {"Z", "Zm9vY", "Zg=", "Zg===", "Zm9v=", "====", "Zm9v!", "Zm 9v", "Zm9v\n", "Z=g=",
                          "Zh==", "Zm9=", "Zm-v", "Zm_v"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(base64_decode(bad).has_value());
  }
}

TEST(BasicAuthorization, Rfc7617Example) {
  EXPECT_EQ(basic_authorization({"Aladdin", "open sesame", ""}), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(basic_authorization({"user", "pa:ss", ""}), "Basic " + base64_encode("user:pa:ss"));
}

// --- host normalisation ------------------------------------------------------------

TEST(NormalizeRegistryHost, DockerWrittenForms) {
  const std::pair<const char*, const char*> cases[] = {
      {"https://index.docker.io/v1/", "docker.io"},
      {"index.docker.io", "docker.io"},
      {"docker.io", "docker.io"},
      {"registry-1.docker.io", "docker.io"},
      {"registry.hub.docker.com", "docker.io"},
      {"HTTPS://Registry-1.Docker.IO/v2/", "docker.io"},
      {"ghcr.io", "ghcr.io"},
      {"https://ghcr.io", "ghcr.io"},
      {"https://GHCR.io/v1/", "ghcr.io"},
      {"http://localhost:5000", "localhost:5000"},
      {"localhost:5000/", "localhost:5000"},
      {"  quay.io  ", "quay.io"},
      {"192.168.1.11:8090", "192.168.1.11:8090"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(normalize_registry_host(in), want);
  }
}

// --- config.json --------------------------------------------------------------------

std::string auth_field(std::string_view user_pass) { return base64_encode(user_pass); }

TEST(CredentialStore, AuthFieldWithColonInPassword) {
  std::string json = R"({"auths":{"https://ghcr.io":{"auth":")" + auth_field("octo:pa:ss:word") + R"("}}})";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto c = store->lookup("ghcr.io");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->username, "octo");
  EXPECT_EQ(c->password, "pa:ss:word");
  EXPECT_EQ(c->identity_token, "");
  EXPECT_EQ(basic_authorization(*c), "Basic " + auth_field("octo:pa:ss:word"));
}

TEST(CredentialStore, UsernamePasswordAndIdentityToken) {
  std::string json = R"({
    "auths": {
      "quay.io": {"username": "robot", "password": "s3cret"},
      "myregistry.azurecr.io": {"auth": ")" + auth_field("00000000-0000-0000-0000-000000000000:") + R"(",
                                 "identitytoken": "eyJhbGciOi.refresh"},
      "gcr.io": {"auth": ")" + auth_field("_json_key:{\"a\":1}") + R"(",
                 "username": "ignored", "password": "ignored"}
    }
  })";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto quay = store->lookup("quay.io");
  ASSERT_TRUE(quay.has_value());
  EXPECT_EQ(quay->username, "robot");
  EXPECT_EQ(quay->password, "s3cret");
  auto acr = store->lookup("MyRegistry.azurecr.io");
  ASSERT_TRUE(acr.has_value());
  EXPECT_EQ(acr->identity_token, "eyJhbGciOi.refresh");
  EXPECT_EQ(acr->username, "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(acr->password, "");
  auto gcr = store->lookup("gcr.io");
  ASSERT_TRUE(gcr.has_value());
  EXPECT_EQ(gcr->username, "_json_key");  // auth wins over username/password
  EXPECT_EQ(gcr->password, "{\"a\":1}");
}

TEST(CredentialStore, DockerHubAliasesShareOneEntry) {
  std::string json = R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + auth_field("hubuser:hubpass") +
                     R"("}}})";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  for (const char* host : {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
                           "https://index.docker.io/v1/", "REGISTRY-1.DOCKER.IO"}) {
    SCOPED_TRACE(host);
    auto c = store->lookup(host);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->username, "hubuser");
  }
  EXPECT_FALSE(store->lookup("ghcr.io").has_value());
}

TEST(CredentialStore, FirstKeyForAHostWins) {
  std::string json = R"({"auths":{"docker.io":{"username":"first","password":"a"},
                                   "https://index.docker.io/v1/":{"username":"second","password":"b"}}})";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  EXPECT_EQ(store->lookup("registry-1.docker.io")->username, "first");
}

TEST(CredentialStore, HttpKeyWithPort) {
  std::string json = R"({"auths":{"http://localhost:5000":{"auth":")" + auth_field("dev:dev") + R"("}}})";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  ASSERT_TRUE(store->lookup("localhost:5000").has_value());
  EXPECT_EQ(store->lookup("localhost:5000")->password, "dev");
  EXPECT_FALSE(store->lookup("localhost").has_value());
  EXPECT_FALSE(store->lookup("localhost:5001").has_value());
}

TEST(CredentialStore, CredsStoreAndHelpersAreIgnored) {
  const char* json = R"({
    "auths": {"https://index.docker.io/v1/": {}, "ghcr.io": {}},
    "credsStore": "desktop",
    "credHelpers": {"123456789.dkr.ecr.eu-central-1.amazonaws.com": "ecr-login", "gcr.io": "gcloud"}
  })";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  for (const char* host :
       {"docker.io", "ghcr.io", "gcr.io", "123456789.dkr.ecr.eu-central-1.amazonaws.com"}) {
    EXPECT_FALSE(store->lookup(host).has_value()) << host;
  }
}

TEST(CredentialStore, EmptyAndMinimalConfigs) {
  for (const char* json :
       {"{}", R"({"auths":{}})", R"({"auths":null})", R"({"HttpHeaders":{"User-Agent":"x"}})"}) {
    SCOPED_TRACE(json);
    auto store = CredentialStore::parse(json, "test.json");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    EXPECT_FALSE(store->lookup("docker.io").has_value());
  }
}

TEST(CredentialStore, MalformedConfigsNameTheFileNotTheContent) {
  struct Case {
    std::string json;
    const char* problem;
  } cases[] = {
      {R"({"auths":{"ghcr.io":{"auth":"SECRETpass")", "not valid JSON"},
      {"", "not valid JSON"},
      {R"(["SECRETpass"])", "top level is not an object"},
      {R"({"auths":["SECRETpass"]})", "\"auths\" is not an object"},
      {R"({"auths":{"ghcr.io":"SECRETpass"}})", "entry \"ghcr.io\" is not an object"},
      {R"({"auths":{"ghcr.io":{"auth":"SECRETpass!!"}}})", "\"auth\" of \"ghcr.io\" is not valid base64"},
      {R"({"auths":{"ghcr.io":{"auth":")" + auth_field("SECRETpass") + R"("}}})",
       "\"auth\" of \"ghcr.io\" is not base64 of user:password"},
      {R"({"auths":{"ghcr.io":{"password":42}}})", "\"password\" of \"ghcr.io\" is not a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    auto store = CredentialStore::parse(c.json, "/home/u/.docker/config.json");
    ASSERT_FALSE(store.has_value());
    const auto& e = store.error();
    EXPECT_EQ(e.kind, core::ErrorKind::InvalidInput);
    EXPECT_NE(e.message.find("/home/u/.docker/config.json"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find(c.problem), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("SECRET"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(auth_field("SECRETpass")), std::string::npos) << e.message;
  }
}

TEST(CredentialStore, SetOverridesAndNormalises) {
  std::string json = R"({"auths":{"ghcr.io":{"username":"file","password":"f"}}})";
  auto store = CredentialStore::parse(json, "test.json");
  ASSERT_TRUE(store.has_value());
  store->set("https://GHCR.io/", Credentials{"cli", "c", ""});
  EXPECT_EQ(store->lookup("ghcr.io")->username, "cli");
  store->set("index.docker.io", Credentials{"hub", "h", ""});
  EXPECT_EQ(store->lookup("docker.io")->username, "hub");
  CredentialStore empty;
  EXPECT_FALSE(empty.lookup("ghcr.io").has_value());
}

// --- files and load_default --------------------------------------------------------

TEST(CredentialStoreFiles, LoadDefaultPrefersDockerConfig) {
  testing::TempDir dir;
  testing::write_text(dir.path() / "dc" / "config.json",
                      R"({"auths":{"ghcr.io":{"username":"from-docker-config","password":"p"}}})");
  testing::write_text(dir.path() / "home" / ".docker" / "config.json",
                      R"({"auths":{"ghcr.io":{"username":"from-home","password":"p"}}})");
  testing::ScopedEnv home("HOME", (dir.path() / "home").string());
  {
    testing::ScopedEnv dc("DOCKER_CONFIG", (dir.path() / "dc").string());
    auto store = CredentialStore::load_default();
    ASSERT_TRUE(store.has_value()) << store.error().message;
    EXPECT_EQ(store->lookup("ghcr.io")->username, "from-docker-config");
  }
  for (std::optional<std::string> unset : {std::optional<std::string>(), std::optional<std::string>("")}) {
    testing::ScopedEnv dc("DOCKER_CONFIG", unset);
    auto store = CredentialStore::load_default();
    ASSERT_TRUE(store.has_value()) << store.error().message;
    EXPECT_EQ(store->lookup("ghcr.io")->username, "from-home");
  }
}

TEST(CredentialStoreFiles, MissingFileIsAnEmptyStore) {
  testing::TempDir dir;
  {
    testing::ScopedEnv dc("DOCKER_CONFIG", (dir.path() / "nowhere").string());
    auto store = CredentialStore::load_default();
    ASSERT_TRUE(store.has_value()) << store.error().message;
    EXPECT_FALSE(store->lookup("docker.io").has_value());
  }
  testing::ScopedEnv dc("DOCKER_CONFIG", std::nullopt);
  testing::ScopedEnv home("HOME", std::nullopt);
  auto store = CredentialStore::load_default();
  ASSERT_TRUE(store.has_value()) << store.error().message;
}

TEST(CredentialStoreFiles, MalformedFileNamesThePath) {
  testing::TempDir dir;
  auto path = dir.path() / "config.json";
  testing::write_text(path, R"({"auths": {"ghcr.io": {"auth": "SECRETpass)");
  testing::ScopedEnv dc("DOCKER_CONFIG", dir.path().string());
  auto store = CredentialStore::load_default();
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_NE(store.error().message.find(path.string()), std::string::npos) << store.error().message;
  EXPECT_EQ(store.error().message.find("SECRET"), std::string::npos) << store.error().message;
}

TEST(CredentialStoreFiles, LoadFileReadsAndReportsMissing) {
  testing::TempDir dir;
  auto path = dir.path() / "creds.json";
  testing::write_text(path, R"({"auths":{"http://localhost:5000":{"auth":")" + auth_field("a:b") + R"("}}})");
  auto store = CredentialStore::load_file(path);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  EXPECT_EQ(store->lookup("localhost:5000")->username, "a");
  auto missing = CredentialStore::load_file(dir.path() / "absent.json");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().kind, core::ErrorKind::Io);
  EXPECT_NE(missing.error().message.find("absent.json"), std::string::npos);
}

}  // namespace
}  // namespace ferry::auth

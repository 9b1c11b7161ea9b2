// Schema1: the digest over the JWS payload (real Red Hat fixture, unsigned, tampered),
// parsing and validation, and the conversion to a schema2 config and manifest.
#include "manifest/schema1.h"

#include <gtest/gtest.h>

#include "fixtures.h"
#include "support/schema1.h"

namespace ferry::manifest {
namespace {

using ferry::testing::Schema1Entry;
using ferry::testing::schema1_sign;
using ferry::testing::schema1_unsigned;
using testing::manifest_fixture;

constexpr const char* kFixture = "redhat-rhosp12-schema1-signed-prettyjws.json";
constexpr const char* kFixtureDigest = "sha256:5a26403ca5f91c7f04300e397efc83960afbfe2d2b34314383a53e267a604455";

std::string digest_of(int n) { return digest::sha256_of("layer " + std::to_string(n)).str(); }

// Three entries, top first: an ENV (throwaway), a COPY layer, the base layer.
std::vector<Schema1Entry> small_image() {
  return {
      {digest_of(3),
       R"({"id":"c3","parent":"b2","created":"2026-01-03T00:00:00Z","throwaway":true,"Size":0,)"
       R"("architecture":"arm64","os":"linux","docker_version":"1.13.1","author":"Tess",)"
       R"("config":{"Env":["A=1"],"Cmd":["/bin/sh"]},"container":"deadbeef",)"
       R"("container_config":{"Cmd":["/bin/sh","-c","#(nop) ","ENV A=1"]}})"},
      {digest_of(2),
       R"({"id":"b2","parent":"a1","created":"2026-01-02T00:00:00Z","comment":"copied",)"
       R"("container_config":{"Cmd":["/bin/sh -c #(nop) COPY dir:x in /"]}})"},
      {digest_of(1), R"({"id":"a1","created":"2026-01-01T00:00:00Z","container_config":{"Cmd":null}})"},
  };
}

Schema1 parse_ok(std::string_view payload) {
  auto m = parse_schema1(payload);
  EXPECT_TRUE(m) << m.error().message;
  return m ? *m : Schema1{};
}

core::Error payload_error(const std::string& body) {
  auto p = schema1_payload(body);
  EXPECT_FALSE(p);
  if (p) return {};
  EXPECT_EQ(p.error().message.find('\n'), std::string::npos);
  EXPECT_TRUE(p.error().message.starts_with("schema1 manifest: ")) << p.error().message;
  return p.error();
}

// --- digest ------------------------------------------------------------------------

TEST(Schema1Digest, RealSignedFixtureHashesItsPayload) {
  const std::string body = manifest_fixture(kFixture);
  auto payload = schema1_payload(body);
  ASSERT_TRUE(payload) << payload.error().message;
  EXPECT_EQ(payload->size(), 6813u + 2);
  EXPECT_TRUE(payload->ends_with("]\n}"));
  EXPECT_EQ(payload->find("signatures"), std::string::npos);
  EXPECT_EQ(digest::sha256_of(*payload).str(), kFixtureDigest);
  for (std::string_view ct : {media::kDockerSchema1Signed, std::string_view("application/json"), std::string_view()}) {
    SCOPED_TRACE(ct);
    auto d = manifest_digest(body, ct);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->str(), kFixtureDigest);
  }
  EXPECT_NE(digest::sha256_of(body).str(), kFixtureDigest);  // the file's own hash is not the digest
}

TEST(Schema1Digest, UnsignedIsTheSha256OfTheBody) {
  const std::string body = schema1_unsigned("ns/app", "v1", "amd64", small_image());
  auto d = manifest_digest(body, media::kDockerSchema1);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, digest::sha256_of(body));
  EXPECT_EQ(*schema1_payload(body), body);
}

TEST(Schema1Digest, ResigningKeepsTheDigestAndEverySignatureMustAgree) {
  const std::string payload = schema1_unsigned("ns/app", "v1", "amd64", small_image());
  const std::string one = schema1_sign(payload, 1), two = schema1_sign(payload, 2);
  ASSERT_NE(one, two);
  EXPECT_EQ(*manifest_digest(one, media::kDockerSchema1Signed), digest::sha256_of(payload));
  EXPECT_EQ(*manifest_digest(two, media::kDockerSchema1Signed), digest::sha256_of(payload));
  // A second signature naming a different cut: which payload would be meant?
  const std::string lie = ferry::testing::schema1_protected(payload.rfind("\n}") - 1, "]\n}", "t");
  auto e = payload_error(schema1_sign(payload, 2, lie));
  EXPECT_NE(e.message.find("signatures[1]"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("differ"), std::string::npos) << e.message;
}

TEST(Schema1Digest, TamperedFixtureNoLongerHashesToItsDigest) {
  const std::string body = manifest_fixture(kFixture);
  std::string changed = body;
  changed.replace(changed.find("\"latest\""), 8, "\"lateST\"");  // inside the payload
  EXPECT_NE(manifest_digest(changed, media::kDockerSchema1Signed)->str(), kFixtureDigest);
  // A protected header whose formatTail lies: the payload is not what was signed.
  std::string tail_lie = body;
  const std::string real = "eyJmb3JtYXRMZW5ndGgiOjY4MTMsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxOC0wMS0zMFQxOToyNToxMloifQ";
  tail_lie.replace(tail_lie.find(real), real.size(), ferry::testing::schema1_protected(6813, "\n}\n", "t"));
  auto d = manifest_digest(tail_lie, media::kDockerSchema1Signed);
  ASSERT_TRUE(d);
  EXPECT_NE(d->str(), kFixtureDigest);
}

TEST(Schema1Digest, BrokenJwsFailsWithTheField) {
  const std::string payload = schema1_unsigned("ns/app", "v1", "amd64", small_image());
  const size_t len = payload.rfind("\n}");
  struct Case {
    std::string prot, want;
  };
  for (const auto& c : std::vector<Case>{
           {"@@@", "signatures[0].protected: not base64url"},
           {ferry::testing::base64url("[1]"), "signatures[0].protected: top level is a JSON array"},
           {ferry::testing::base64url(R"({"formatTail":"Cn0"})"), "signatures[0].protected.formatLength: missing"},
           {ferry::testing::base64url(R"({"formatLength":10,"formatTail":"*"})"), "formatTail: not base64url"},
           {ferry::testing::schema1_protected(len + 1000000, "\n}", "t"), "outside the"},
       }) {
    SCOPED_TRACE(c.want);
    auto e = payload_error(schema1_sign(payload, 1, c.prot));
    EXPECT_NE(e.message.find(c.want), std::string::npos) << e.message;
  }
  auto empty = payload_error(payload.substr(0, len) + ",\"signatures\":[]\n}");
  EXPECT_NE(empty.message.find("signatures: empty"), std::string::npos) << empty.message;
}

TEST(Schema1Digest, DetectionIsByTypeOrSchemaVersion) {
  const std::string body = schema1_unsigned("ns/app", "v1", "amd64", small_image());
  EXPECT_TRUE(is_schema1(body, media::kDockerSchema1Signed));
  EXPECT_TRUE(is_schema1("", "application/vnd.docker.distribution.manifest.v1+json; charset=utf-8"));
  EXPECT_TRUE(is_schema1(body, "application/json"));
  EXPECT_TRUE(is_schema1(body, ""));
  EXPECT_FALSE(is_schema1(body, media::kDockerManifest));  // schema2 types are hashed whole, unparsed
  EXPECT_FALSE(is_schema1(R"({"schemaVersion":2})", ""));
  EXPECT_FALSE(is_schema1("not json", ""));
  EXPECT_EQ(*manifest_digest("not json", media::kOciManifest), digest::sha256_of("not json"));
}

// --- parse -------------------------------------------------------------------------

TEST(Schema1Parse, RealFixtureFields) {
  Schema1 m = parse_ok(*schema1_payload(manifest_fixture(kFixture)));
  EXPECT_EQ(m.name, "rhosp12/openstack-nova-api");
  EXPECT_EQ(m.tag, "latest");
  EXPECT_EQ(m.architecture, "amd64");
  ASSERT_EQ(m.fs_layers.size(), 6u);
  ASSERT_EQ(m.history.size(), 6u);
  EXPECT_EQ(m.fs_layers[0].str(), "sha256:e623934bca8d1a74f51014256445937714481e49343a31bda2bc5f534748184d");
  EXPECT_EQ(m.fs_layers[5].str(), "sha256:9cadd93b16ff2a0c51ac967ea2abfadfac50cfa3af8b5bf983d89b8f8647f3e4");
  EXPECT_EQ(m.platform.str(), "linux/amd64");
  EXPECT_EQ(m.compat[0].created_by, "/bin/sh -c #(nop)  USER [nova]");
  EXPECT_EQ(m.compat[5].comment, "Imported from -");
  EXPECT_EQ(m.compat[5].parent, "");
  EXPECT_EQ(schema1_layers(m).front(), m.fs_layers[5]);  // bottom first
}

TEST(Schema1Parse, SmallImageFields) {
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "amd64", small_image()));
  EXPECT_EQ(m.platform.str(), "linux/arm64");  // history[0] wins over the manifest's architecture
  EXPECT_TRUE(m.compat[0].throwaway);
  EXPECT_FALSE(m.compat[1].throwaway);
  EXPECT_EQ(m.compat[2].created_by, "");
  EXPECT_EQ(schema1_layers(m), (std::vector<digest::Digest>{*digest::Digest::parse(digest_of(1)),
                                                             *digest::Digest::parse(digest_of(2))}));
}

TEST(Schema1Parse, RepeatedIdsFoldIntoOneEntry) {
  auto entries = small_image();
  entries.insert(entries.begin() + 1, entries[1]);  // b2 twice in a row
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "amd64", entries));
  EXPECT_EQ(m.fs_layers.size(), 3u);
  EXPECT_EQ(m.compat[1].id, "b2");
}

TEST(Schema1Parse, InvalidManifestsNameTheField) {
  auto with = [](auto edit) {
    auto e = small_image();
    edit(e);
    return schema1_unsigned("ns/app", "v1", "amd64", e);
  };
  const std::string mismatch = R"({"schemaVersion":1,"architecture":"amd64","fsLayers":[{"blobSum":")" + digest_of(1) +
                               R"("},{"blobSum":")" + digest_of(2) + R"("}],"history":[{"v1Compatibility":"{}"}]})";
  struct Case {
    std::string body, want;
  };
  for (const auto& c : std::vector<Case>{
           {with([](auto& e) { e[1].blob_sum = "sha256:../../etc"; }), "fsLayers[1].blobSum"},
           {with([](auto& e) { e[2].v1 = "not json"; }), "history[2].v1Compatibility: not valid JSON"},
           {with([](auto& e) { e[0].v1 = R"({"throwaway":"yes"})"; }), "history[0].v1Compatibility.throwaway"},
           {with([](auto& e) { e[0].v1 = R"({"os":"li/nux"})"; }), "os/architecture/variant"},
           {with([](auto& e) { e.clear(); }), "fsLayers: empty"},
           {mismatch, "history: 1 entries but fsLayers has 2"},
           {R"({"schemaVersion":2,"fsLayers":[],"history":[]})", "schemaVersion: want 1, got 2"},
           {R"({"schemaVersion":1,"history":[]})", "fsLayers: missing"},
       }) {
    SCOPED_TRACE(c.want);
    auto m = parse_schema1(c.body);
    ASSERT_FALSE(m);
    EXPECT_TRUE(m.error().message.starts_with("schema1 manifest: ")) << m.error().message;
    EXPECT_NE(m.error().message.find(c.want), std::string::npos) << m.error().message;
  }
}

TEST(Schema1Parse, TooManyLayersRefused) {
  std::vector<Schema1Entry> many(kMaxSchema1Layers + 1, {digest_of(1), "{}"});
  auto m = parse_schema1(schema1_unsigned("ns/app", "v1", "amd64", many));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("over the limit"), std::string::npos) << m.error().message;
}

// --- conversion --------------------------------------------------------------------

TEST(Schema1Convert, ConfigKeepsTheTopEntryAndRebuildsRootfsAndHistory) {
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "amd64", small_image()));
  const std::vector<digest::Digest> diff_ids{digest::sha256_of("tar 1"), digest::sha256_of("tar 2")};
  auto config = schema1_config(m, diff_ids);
  ASSERT_TRUE(config) << config.error().message;
  const std::string want =
      R"({"architecture":"arm64","author":"Tess","config":{"Env":["A=1"],"Cmd":["/bin/sh"]},)"
      R"("container":"deadbeef","container_config":{"Cmd":["/bin/sh","-c","#(nop) ","ENV A=1"]},)"
      R"("created":"2026-01-03T00:00:00Z","docker_version":"1.13.1","history":[)"
      R"({"created":"2026-01-01T00:00:00Z"},)"
      R"({"comment":"copied","created":"2026-01-02T00:00:00Z","created_by":"/bin/sh -c #(nop) COPY dir:x in /"},)"
      R"({"author":"Tess","created":"2026-01-03T00:00:00Z","created_by":"/bin/sh -c #(nop)  ENV A=1","empty_layer":true}],)"
      R"("os":"linux","rootfs":{"diff_ids":[")" +
      diff_ids[0].str() + R"(",")" + diff_ids[1].str() + R"("],"type":"layers"}})";
  EXPECT_EQ(*config, want);
  // It reads back as a config export accepts, and the same input gives the same bytes.
  auto parsed = parse_config(*config);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->diff_ids, diff_ids);
  EXPECT_EQ(parsed->platform.str(), "linux/arm64");
  EXPECT_EQ(*schema1_config(parse_ok(schema1_unsigned("ns/app", "v1", "amd64", small_image())), diff_ids), *config);
}

TEST(Schema1Convert, DefaultsOsAndArchitectureAndEscapes) {
  auto entries = small_image();
  entries[0].v1 = R"({"id":"c3","parent":"b2","throwaway":true,"author":"A \"quoted\" \\ name\n"})";
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "s390x", entries));
  auto config = schema1_config(m, {digest::sha256_of("1"), digest::sha256_of("2")});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->starts_with(R"({"architecture":"s390x","author":"A \"quoted\" \\ name\n","history":)")) << *config;
  EXPECT_NE(config->find(R"("os":"linux")"), std::string::npos) << *config;
  EXPECT_EQ(config->find("\"id\""), std::string::npos);
  EXPECT_EQ(config->find("\"parent\""), std::string::npos);
  auto reparsed = parse_config(*config);
  ASSERT_TRUE(reparsed) << reparsed.error().message << "\n" << *config;
}

TEST(Schema1Convert, NullOrEmptyPlatformFieldsAreReplacedByTheDefaults) {
  auto entries = small_image();
  entries[0].v1 = R"({"throwaway":true,"os":null,"architecture":""})";
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "ppc64le", entries));
  EXPECT_EQ(m.platform.str(), "linux/ppc64le");
  auto config = schema1_config(m, {digest::sha256_of("1"), digest::sha256_of("2")});
  ASSERT_TRUE(config) << config.error().message;
  auto parsed = parse_config(*config);
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << *config;
  EXPECT_EQ(parsed->platform.str(), "linux/ppc64le");
}

// Found by fuzz_manifest: a field copied from v1Compatibility with the wrong type
// made a config that parse_config (and engines) refuse; the conversion names it.
TEST(Schema1Convert, AWronglyTypedCopiedFieldIsUnconvertibleNamingIt) {
  auto entries = small_image();
  entries[0].v1 = R"({"throwaway":true,"os.version":true})";
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "amd64", entries));
  auto config = schema1_config(m, {digest::sha256_of("1"), digest::sha256_of("2")});
  ASSERT_FALSE(config) << *config;
  EXPECT_EQ(config.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_NE(config.error().message.find("schema1 manifest: history[0].v1Compatibility does not make an image config"),
            std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("os.version"), std::string::npos) << config.error().message;
}

TEST(Schema1Convert, WrongDiffIdCountIsABug) {
  Schema1 m = parse_ok(schema1_unsigned("ns/app", "v1", "amd64", small_image()));
  auto config = schema1_config(m, {digest::sha256_of("1")});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().kind, core::ErrorKind::Internal);
}

TEST(Schema1Convert, Schema2ManifestParsesBack) {
  Descriptor config{std::string(media::kDockerConfig), digest::sha256_of("c"), 123, {}, {}, {}};
  std::vector<Descriptor> layers{{std::string(media::kDockerLayerGzip), digest::sha256_of("l1"), 10, {}, {}, {}},
                                 {std::string(media::kDockerLayerGzip), digest::sha256_of("l2"), 20, {}, {}, {}}};
  const std::string body = schema2_manifest(config, layers);
  EXPECT_EQ(body, R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
                  R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":123,"digest":")" +
                      config.digest.str() + R"("},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10,"digest":")" +
                      layers[0].digest.str() + R"("},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":20,"digest":")" +
                      layers[1].digest.str() + R"("}]})");
  auto parsed = parse(body, media::kDockerManifest);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& m = std::get<ImageManifest>(*parsed);
  EXPECT_EQ(m.config.digest, config.digest);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[1].size, 20);
}

}  // namespace
}  // namespace ferry::manifest

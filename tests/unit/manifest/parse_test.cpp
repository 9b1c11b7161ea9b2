// parse() on synthetic bodies: media-type resolution (body, Content-Type, shape),
// and hostile input — unsafe or foreign digests, bad sizes, oversized and deeply
// nested bodies, non-JSON, wrong shapes, duplicate keys. Every error must be one
// line naming the field.
#include <gtest/gtest.h>

#include <string>

#include "fixtures.h"
#include "manifest/manifest.h"

namespace ferry::manifest {
namespace {

using core::ErrorKind;

const std::string kHexA(64, 'a');
const std::string kHexB(64, 'b');

std::string descriptor_json(std::string_view media_type, std::string_view digest, std::string_view size) {
  return "{\"mediaType\":\"" + std::string(media_type) + "\",\"digest\":\"" + std::string(digest) +
         "\",\"size\":" + std::string(size) + "}";
}

std::string layer(std::string_view digest = "", std::string_view size = "10") {
  std::string d = digest.empty() ? "sha256:" + kHexB : std::string(digest);
  return descriptor_json(media::kOciLayerGzip, d, size);
}

// An OCI image manifest whose layers array is `layers` (raw JSON items).
std::string image_json(const std::string& layers, std::string_view media_type_field = "") {
  std::string type = media_type_field.empty()
                         ? std::string()
                         : "\"mediaType\":\"" + std::string(media_type_field) + "\",";
  return "{\"schemaVersion\":2," + type + "\"config\":" + descriptor_json(media::kOciConfig, "sha256:" + kHexA, "5") +
         ",\"layers\":[" + layers + "]}";
}

std::string index_json(const std::string& entries, std::string_view media_type_field = "") {
  std::string type = media_type_field.empty()
                         ? std::string()
                         : "\"mediaType\":\"" + std::string(media_type_field) + "\",";
  return "{\"schemaVersion\":2," + type + "\"manifests\":[" + entries + "]}";
}

std::string entry_json() {
  return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" + kHexA +
         R"(","size":7,"platform":{"os":"linux","architecture":"amd64"}})";
}

core::Error parse_error(const std::string& body, std::string_view content_type = media::kOciManifest) {
  auto parsed = parse(body, content_type);
  EXPECT_FALSE(parsed) << "parsed although it should not: " << body.substr(0, 200);
  if (parsed) return {};
  EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos) << parsed.error().message;
  return parsed.error();
}

bool starts_with(const core::Error& e, std::string_view prefix) { return e.message.starts_with(prefix); }

// --- Media type resolution ----------------------------------------------------------

TEST(ParseMediaType, AcceptHeaderNamesTheFourTypesThenSchema1) {
  EXPECT_EQ(accept_header(),
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json, "
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.docker.distribution.manifest.v1+prettyjws, "
            "application/vnd.docker.distribution.manifest.v1+json");
  EXPECT_TRUE(is_index_type(media::kDockerList));
  EXPECT_TRUE(is_image_manifest_type(media::kDockerManifest));
  EXPECT_FALSE(is_image_manifest_type(media::kDockerSchema1Signed));
}

TEST(ParseMediaType, BodyWinsOverContentTypeOfTheSameKind) {
  auto m = testing::parse_image(image_json(layer(), media::kDockerManifest), media::kOciManifest);
  EXPECT_EQ(m.media_type, media::kDockerManifest);
}

TEST(ParseMediaType, ContentTypeUsedWhenBodyHasNone) {
  auto m = testing::parse_image(image_json(layer()), "Application/Vnd.Docker.Distribution.Manifest.V2+json ; q=1");
  EXPECT_EQ(m.media_type, media::kDockerManifest);
  auto i = testing::parse_index(index_json(entry_json()), media::kDockerList);
  EXPECT_EQ(i.media_type, media::kDockerList);
}

TEST(ParseMediaType, ShapeDecidesWhenNothingElseDoes) {
  for (std::string_view ct : {"", "application/json", "application/json; charset=utf-8", "application/octet-stream"}) {
    SCOPED_TRACE(ct);
    EXPECT_EQ(testing::parse_index(index_json(entry_json()), ct).media_type, media::kOciIndex);
    EXPECT_EQ(testing::parse_image(image_json(layer()), ct).media_type, media::kOciManifest);
  }
  auto neither = parse_error(R"({"schemaVersion":2})", "application/json");
  EXPECT_TRUE(starts_with(neither, "manifest: no mediaType, and the body is neither")) << neither.message;
  std::string both = image_json(layer());
  both.insert(1, "\"manifests\":[],");
  EXPECT_TRUE(starts_with(parse_error(both, ""), "manifest: no mediaType, and the body has both"));
}

TEST(ParseMediaType, ContradictionIsInvalid) {
  auto e = parse_error(image_json(layer(), media::kOciManifest), media::kOciIndex);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message,
            "manifest: mediaType: body says application/vnd.oci.image.manifest.v1+json but Content-Type says "
            "application/vnd.oci.image.index.v1+json");
  auto f = parse_error(index_json(entry_json(), media::kDockerList), media::kDockerManifest);
  EXPECT_EQ(f.kind, ErrorKind::InvalidInput);
}

TEST(ParseMediaType, UnknownTypesAreUnsupported) {
  auto artifact = parse_error(image_json(layer(), "application/vnd.oci.artifact.manifest.v1+json"));
  EXPECT_EQ(artifact.kind, ErrorKind::Unsupported);
  EXPECT_TRUE(starts_with(artifact, "manifest: mediaType: unsupported media type")) << artifact.message;
  auto html = parse_error(image_json(layer()), "text/html");
  EXPECT_EQ(html.kind, ErrorKind::Unsupported);
}

TEST(ParseMediaType, Schema1ByVersionOrType) {
  for (auto [body, ct] : {std::pair<std::string, std::string_view>{R"({"schemaVersion":1,"fsLayers":[]})", ""},
                          {R"({"schemaVersion":2})", media::kDockerSchema1},
                          {R"({"schemaVersion":2})", "application/vnd.docker.distribution.manifest.v1+prettyjws"},
                          {image_json(layer(), media::kDockerSchema1Signed), media::kOciManifest}}) {
    SCOPED_TRACE(body);
    auto e = parse_error(body, ct);
    EXPECT_EQ(e.kind, ErrorKind::Unsupported);
    EXPECT_NE(e.message.find("schema1"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("not supported"), std::string::npos) << e.message;
  }
}

TEST(ParseMediaType, SchemaVersionMustBeTwo) {
  std::string three = image_json(layer());
  three.replace(three.find("2"), 1, "3");
  EXPECT_EQ(parse_error(three).message, "manifest: schemaVersion: want 2, got 3");
  std::string quoted = image_json(layer());
  quoted.replace(quoted.find("2"), 1, "\"2\"");
  EXPECT_EQ(parse_error(quoted).message, "manifest: schemaVersion: want an integer, got string");
  std::string absent = image_json(layer());
  absent.erase(1, std::string("\"schemaVersion\":2,").size());
  EXPECT_EQ(parse_error(absent).message, "manifest: schemaVersion: missing");
}

// --- Descriptors --------------------------------------------------------------------

TEST(ParseDescriptor, UnsafeAndForeignDigestsAreRefused) {
  auto traversal = parse_error(image_json(layer() + "," + layer("sha256:../../x")));
  EXPECT_EQ(traversal.kind, ErrorKind::InvalidInput);
  EXPECT_TRUE(starts_with(traversal, "manifest: layers[1].digest: invalid digest \"sha256:../../x\": "))
      << traversal.message;
  auto md5 = parse_error(image_json(layer("md5:d41d8cd98f00b204e9800998ecf8427e")));
  EXPECT_TRUE(starts_with(md5, "manifest: layers[0].digest: ")) << md5.message;
  EXPECT_NE(md5.message.find("md5"), std::string::npos);
  auto upper = parse_error(image_json(layer("sha256:" + std::string(64, 'A'))));
  EXPECT_TRUE(starts_with(upper, "manifest: layers[0].digest: invalid digest")) << upper.message;
  auto injected = parse_error(image_json(layer("sha256:\\nINJECTED\\r")));
  EXPECT_TRUE(starts_with(injected, "manifest: layers[0].digest: invalid digest \"sha256:?INJECTED?\""))
      << injected.message;
  auto number = parse_error(image_json(R"({"mediaType":"x","digest":5,"size":1})"));
  EXPECT_EQ(number.message, "manifest: layers[0].digest: want a digest string, got number");
  auto config = parse_error(index_json(descriptor_json(media::kOciManifest, "sha256:" + kHexA + "/..", "1")),
                            media::kOciIndex);
  EXPECT_TRUE(starts_with(config, "manifest: manifests[0].digest: invalid digest")) << config.message;
}

TEST(ParseDescriptor, SizesMustBeNonNegativeInt64) {
  EXPECT_EQ(parse_error(image_json(layer("", "-1"))).message, "manifest: layers[0].size: negative size -1");
  EXPECT_EQ(parse_error(image_json(layer("", "\"123\""))).message,
            "manifest: layers[0].size: want an integer, got string");
  EXPECT_TRUE(starts_with(parse_error(image_json(layer("", "1.5"))), "manifest: layers[0].size: want an integer"));
  EXPECT_TRUE(starts_with(parse_error(image_json(layer("", "1e3"))), "manifest: layers[0].size: want an integer"));
  EXPECT_EQ(parse_error(image_json(layer("", "9223372036854775808"))).message,
            "manifest: layers[0].size: integer out of range");
  EXPECT_EQ(parse_error(image_json(layer("", "null"))).message, "manifest: layers[0].size: missing");

  auto big = testing::parse_image(image_json(layer("", "5000000000") + "," + layer("", "9223372036854775807")), "");
  ASSERT_EQ(big.layers.size(), 2u);
  EXPECT_EQ(big.layers[0].size, int64_t{5000000000});
  EXPECT_EQ(big.layers[1].size, INT64_MAX);
}

TEST(ParseDescriptor, RequiredFieldsAndTypes) {
  EXPECT_EQ(parse_error(R"({"schemaVersion":2,"config":)" + descriptor_json(media::kOciConfig, "sha256:" + kHexA, "1") +
                        "}")
                .message,
            "manifest: layers: missing");
  EXPECT_EQ(parse_error(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})")
                .message,
            "manifest: config: missing");
  std::string config_array = image_json(layer());
  config_array.replace(config_array.find("\"config\":") + 9, 0, "[");
  config_array.replace(config_array.find(",\"layers\""), 0, "]");
  EXPECT_EQ(parse_error(config_array).message, "manifest: config: want an object, got array");
  std::string no_type = image_json(R"({"digest":"sha256:)" + kHexB + R"(","size":1})");
  EXPECT_EQ(parse_error(no_type).message, "manifest: layers[0].mediaType: missing");
  std::string urls = image_json(R"({"mediaType":"x","digest":"sha256:)" + kHexB + R"(","size":1,"urls":"http://x"})");
  EXPECT_EQ(parse_error(urls).message, "manifest: layers[0].urls: want an array, got string");
  std::string url_item = image_json(R"({"mediaType":"x","digest":"sha256:)" + kHexB + R"(","size":1,"urls":[1]})");
  EXPECT_EQ(parse_error(url_item).message, "manifest: layers[0].urls[0]: want a string, got number");
  std::string annotation =
      image_json(R"({"mediaType":"x","digest":"sha256:)" + kHexB + R"(","size":1,"annotations":{"k":{}}})");
  EXPECT_EQ(parse_error(annotation).message, "manifest: layers[0].annotations.k: want a string, got object");
  EXPECT_EQ(parse_error(image_json("7")).message, "manifest: layers[0]: want an object, got number");
}

TEST(ParseDescriptor, IndexEntriesAreCheckedToo) {
  std::string no_digest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7})";
  EXPECT_EQ(parse_error(index_json(entry_json() + "," + no_digest), media::kOciIndex).message,
            "manifest: manifests[1].digest: missing");
  std::string no_arch = R"({"mediaType":"m","digest":"sha256:)" + kHexA + R"(","size":7,"platform":{"os":"linux"}})";
  EXPECT_EQ(parse_error(index_json(no_arch), media::kOciIndex).message,
            "manifest: manifests[0].platform.architecture: missing");
  EXPECT_EQ(parse_error(R"({"schemaVersion":2,"manifests":{}})", media::kOciIndex).message,
            "manifest: manifests: want an array, got object");
}

TEST(ParseDescriptor, UnknownFieldsIgnoredNullOptionalsAbsent) {
  std::string body = R"({"schemaVersion":2,"future":{"x":[1,2,{"y":null}]},"manifests":[)"
                     R"({"mediaType":"m","digest":"sha256:)" + kHexA +
                     R"(","size":0,"annotations":null,"urls":null,"platform":null,"data":"e30=","artifactType":"t"}],)"
                     R"("subject":null,"annotations":null})";
  Index index = testing::parse_index(body, media::kOciIndex);
  ASSERT_EQ(index.manifests.size(), 1u);
  EXPECT_FALSE(index.manifests[0].platform);
  EXPECT_EQ(index.manifests[0].size, 0);
  EXPECT_FALSE(index.subject);
}

TEST(ParseDescriptor, DuplicateKeysAreRefused) {
  std::string body = image_json(R"({"mediaType":"x","digest":"sha256:)" + kHexB + R"(","size":1,"digest":"sha256:)" +
                                kHexA + R"("})");
  EXPECT_EQ(parse_error(body).message, "manifest: layers[0].digest: duplicate key");
  std::string top = image_json(layer());
  top.insert(1, "\"layers\":[],");
  EXPECT_EQ(parse_error(top).message, "manifest: layers: duplicate key");
}

// --- Hostile documents --------------------------------------------------------------

TEST(ParseHostile, OversizedBodyRefusedBeforeParsing) {
  std::string body(5 * 1024 * 1024, ' ');
  auto e = parse_error(body);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_NE(e.message.find("5242880"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("4194304"), std::string::npos) << e.message;
}

TEST(ParseHostile, ExactlyTheLimitIsAccepted) {
  std::string body = image_json(layer());
  body.append(kMaxManifestSize - body.size(), ' ');
  EXPECT_TRUE(parse(body, ""));
  body.push_back(' ');
  EXPECT_FALSE(parse(body, ""));
}

TEST(ParseHostile, DeepNestingRefused) {
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  std::string body = image_json(layer());
  body.insert(1, "\"x\":" + deep + ",");
  auto e = parse_error(body);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message, "manifest: nested deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 1000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(1000, '}');
  EXPECT_EQ(parse_error(objects).message, "manifest: nested deeper than 64 levels");
}

TEST(ParseHostile, NotJsonOrNotAnObject) {
  for (std::string body : {"", "hello", "{", "{\"schemaVersion\":2,}", "\xff\xfe{}", "{} trailing"}) {
    SCOPED_TRACE(body);
    auto e = parse_error(body);
    EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
    EXPECT_TRUE(starts_with(e, "manifest: not valid JSON: ")) << e.message;
  }
  EXPECT_EQ(parse_error("[" + image_json(layer()) + "]").message,
            "manifest: top level is a JSON array, want an object");
  EXPECT_EQ(parse_error("\"text\"").message, "manifest: top level is a JSON string, want an object");
  EXPECT_EQ(parse_error("null").message, "manifest: top level is a JSON null, want an object");
}

}  // namespace
}  // namespace ferry::manifest

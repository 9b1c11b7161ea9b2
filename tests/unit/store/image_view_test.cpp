// The store's image view: what is read back is what the descriptor names, or a
// refusal that says which blob and why.
#include "store/image_view.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "digest/digest.h"
#include "support/temp_dir.h"

namespace ferry::store {
namespace {

using core::ErrorKind;

class ImageViewTest : public ::testing::Test {
 protected:
  ImageViewTest() : store_(*Store::open(dir_.path() / "store", true)) {}

  manifest::Descriptor put(const std::string& body, std::string_view media_type) {
    manifest::Descriptor d;
    d.media_type = std::string(media_type);
    d.digest = digest::sha256_of(body);
    d.size = static_cast<int64_t>(body.size());
    EXPECT_TRUE(store_.put_blob(d.digest, body));
    return d;
  }

  void overwrite(const digest::Digest& d, const std::string& bytes) {
    const auto path = store_.blob_path(d);
    std::filesystem::permissions(path, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  std::string manifest_json(const manifest::Descriptor& config) const {
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":")" +
           config.media_type + R"(","digest":")" + config.digest.str() + R"(","size":)" +
           std::to_string(config.size) + R"(},"layers":[]})";
  }

  ferry::testing::TempDir dir_;
  Store store_;
};

TEST_F(ImageViewTest, AManifestReadsBackParsedAsItsTypeSays) {
  auto config = put(R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})",
                    manifest::media::kOciConfig);
  auto m = put(manifest_json(config), manifest::media::kOciManifest);
  auto stored = read_manifest(store_, m);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->bytes, manifest_json(config));
  const auto* image = std::get_if<manifest::ImageManifest>(&stored->parsed);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->config.digest, config.digest);
  auto bytes = read_verified(store_, config, 1 << 20, "config");
  ASSERT_TRUE(bytes);
  EXPECT_NE(bytes->find("amd64"), std::string::npos);
}

TEST_F(ImageViewTest, AbsentWrongSizeAndChangedBytesAreRefusedByName) {
  auto config = put(R"({"os":"linux"})", manifest::media::kOciConfig);
  auto m = put(manifest_json(config), manifest::media::kOciManifest);

  manifest::Descriptor absent = m;
  absent.digest = digest::sha256_of("never stored");
  auto r = read_manifest(store_, absent);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  EXPECT_NE(r.error().message.find(absent.digest.str()), std::string::npos) << r.error().message;

  manifest::Descriptor longer = m;
  longer.size += 1;
  r = read_manifest(store_, longer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::SizeMismatch) << r.error().message;

  std::string changed = manifest_json(config);
  changed[changed.find("layers")] = 'L';
  overwrite(m.digest, changed);
  r = read_manifest(store_, m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::DigestMismatch);
  EXPECT_NE(r.error().message.find(m.digest.str() + " (manifest) is corrupt: its content hashes to " +
                                   digest::sha256_of(changed).str()),
            std::string::npos)
      << r.error().message;
}

TEST_F(ImageViewTest, AnImageNamedAsAnIndexIsRefused) {
  auto config = put(R"({"os":"linux"})", manifest::media::kOciConfig);
  auto m = put(manifest_json(config), manifest::media::kOciManifest);
  manifest::Descriptor as_index = m;
  as_index.media_type = std::string(manifest::media::kOciIndex);
  auto tree = read_index_tree(store_, as_index);
  ASSERT_FALSE(tree);
  EXPECT_EQ(tree.error().kind, ErrorKind::InvalidInput);
  EXPECT_NE(tree.error().message.find("index " + m.digest.str()), std::string::npos) << tree.error().message;
  // An image entry is its own platform image; nothing is read for it.
  auto images = platform_images(store_, {m});
  ASSERT_TRUE(images);
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ(images->front().digest, m.digest);
}

}  // namespace
}  // namespace ferry::store

// Referrers: what a referrers API answer names, the tags of the fallback schema and
// of cosign, and how index.json marks a referrer.
#include "sync/referrers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "store/store.h"

using ferry::digest::Digest;
namespace {

const Digest kSubject = *Digest::parse("sha256:" + std::string(64, 'a'));
const Digest kSbom = *Digest::parse("sha256:" + std::string(64, 'b'));
const Digest kSig = *Digest::parse("sha256:" + std::string(64, 'c'));

ferry::reference::Reference parse_ref(const std::string& text) { return *ferry::reference::parse(text); }

std::string api_answer(const std::vector<Digest>& ds) {
  std::string list;
  for (const auto& d : ds) {
    list += fmt::format(R"({}{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":10,)"
                        R"("artifactType":"application/spdx+json"}})",
                        list.empty() ? "" : ",", d.str());
  }
  return fmt::format(R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}})",
                     list);
}

}  // namespace

TEST(Referrers, AnApiAnswerNamesEachReferrerByDigestInTheSubjectsRepository) {
  auto r = ferry::sync::referrers_from_index(api_answer({kSbom, kSig, kSbom}), parse_ref("reg.example:5000/ns/app:1"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);  // each once
  EXPECT_EQ((*r)[0].str(), "reg.example:5000/ns/app@" + kSbom.str());
  EXPECT_EQ((*r)[1].str(), "reg.example:5000/ns/app@" + kSig.str());
  EXPECT_TRUE((*r)[0].tag.empty());
}

TEST(Referrers, AnEmptyAnswerIsNoReferrer) {
  auto r = ferry::sync::referrers_from_index(api_answer({}), parse_ref("reg.example/ns/app:1"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST(Referrers, AnAnswerThatIsNotAnIndexIsRefusedNamingTheAnswer) {
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" +
      kSbom.str() + R"(","size":2},"layers":[]})";
  for (const std::string& body : {manifest, std::string("not json"), std::string(R"({"manifests":[{"digest":"../x"}]})")}) {
    auto r = ferry::sync::referrers_from_index(body, parse_ref("reg.example/ns/app:1"));
    ASSERT_FALSE(r) << body;
    EXPECT_NE(r.error().message.find("referrers answer"), std::string::npos) << r.error().message;
  }
}

TEST(Referrers, TheFallbackAndCosignTagsAreNamedAfterTheSubjectDigest) {
  const std::string base = "sha256-" + std::string(64, 'a');
  EXPECT_EQ(ferry::sync::referrer_tags(kSubject),
            (std::vector<std::string>{base, base + ".sig", base + ".att", base + ".sbom"}));
}

TEST(Referrers, IndexJsonMarksAReferrerWithItsSubject) {
  ferry::manifest::Descriptor image, sig;
  sig.annotations[std::string(ferry::store::kReferrerOfAnnotation)] = "reg.example/ns/app:1";
  EXPECT_EQ(ferry::store::referrer_of(image), "");
  EXPECT_EQ(ferry::store::referrer_of(sig), "reg.example/ns/app:1");
  std::vector<ferry::store::IndexEntry> entries{{image, "reg.example/ns/app:1"},
                                                {sig, "reg.example/ns/app:sha256-x.sig"},
                                                {image, "reg.example/ns/other:1"}};
  auto groups = ferry::store::group_by_reference(entries);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[1].referrer_of, "reg.example/ns/app:1");
  EXPECT_EQ(ferry::store::referrers_of(groups, "reg.example/ns/app:1"),
            std::vector<std::string>{"reg.example/ns/app:sha256-x.sig"});
  EXPECT_TRUE(ferry::store::referrers_of(groups, "reg.example/ns/other:1").empty());
}

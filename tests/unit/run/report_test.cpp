// run/report: last-run.json carries every outcome (the push fields only when pushed)
// and last_success reads back; a last-run.json that is not ferry's reads as no
// success; the metrics file is Prometheus text, replaced whole.
#include "run/report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace ferry::run {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunSummary summary() {
  RunSummary s;
  ImageOutcome ok;
  ok.reference = "docker.io/library/a:1";
  ok.digest = "sha256:" + std::string(64, 'a');
  ok.pushed_to = "reg:5000/m/library/a:1";
  ImageOutcome bad;
  bad.reference = "docker.io/library/b:1";
  bad.error = "b: manifest unknown";
  s.images = {ok, bad};
  s.bytes = 1234;
  s.finished = std::chrono::system_clock::from_time_t(1700000000);
  s.last_success = 1600000000;
  return s;
}

TEST(RunReportTest, LastRunHoldsEveryOutcomeAndTheLastSuccessReadsBack) {
  ferry::testing::TempDir dir;
  auto store = store::Store::open(dir.path() / "store", true);
  ASSERT_TRUE(store);
  EXPECT_EQ(read_last_success(*store), 0);
  ASSERT_TRUE(write_last_run(*store, summary()));
  auto j = nlohmann::json::parse(slurp(dir.path() / "store" / "state" / "last-run.json"));
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["finished"], 1700000000);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["images"][0]["pushed_to"], "reg:5000/m/library/a:1");
  EXPECT_FALSE(j["images"][1].contains("pushed_to"));
  EXPECT_EQ(j["images"][1]["error"], "b: manifest unknown");
  EXPECT_EQ(read_last_success(*store), 1600000000);
}

TEST(RunReportTest, ALastRunThatIsNotFerrysReadsAsNoSuccess) {
  ferry::testing::TempDir dir;
  auto store = store::Store::open(dir.path() / "store", true);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->write_file(store::Area::State, "last-run.json", R"({"last_success":"yesterday"})"));
  EXPECT_EQ(read_last_success(*store), 0);
  ASSERT_TRUE(store->write_file(store::Area::State, "last-run.json", "not json"));
  EXPECT_EQ(read_last_success(*store), 0);
}

TEST(RunReportTest, MetricsAreReplacedWhole) {
  ferry::testing::TempDir dir;
  const auto file = dir.path() / "ferry.prom";
  std::ofstream(file) << "old\n";
  ASSERT_TRUE(write_metrics(file, summary()));
  const auto text = slurp(file);
  EXPECT_EQ(text.find("old"), std::string::npos);
  EXPECT_NE(text.find("ferry_sync_images{result=\"ok\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_sync_images{result=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_sync_bytes_fetched 1234\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_sync_last_success_timestamp_seconds 1600000000\n"), std::string::npos);
}

}  // namespace
}  // namespace ferry::run

// JobGraph: one job per key however many images need it; an image is whole when
// the last job it waits on is done; a failure reaches every image of the job, and
// those that come later.
#include "plan/job_graph.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry::plan {
namespace {

using Graph = JobGraph<std::string, int>;

TEST(JobGraph, AKeyNeededByTwoImagesIsOneJob) {
  Graph g;
  auto a = g.need(0, "layer", 1);
  auto b = g.need(1, "layer", 2);
  EXPECT_EQ(a.found, Graph::Found::Made);
  EXPECT_EQ(b.found, Graph::Found::Joined);
  EXPECT_EQ(a.job, b.job);
  EXPECT_EQ(g.size(), 1u);
  EXPECT_EQ(g[a.job].data, 1);  // the data of the one that made it
  EXPECT_EQ(g[a.job].images, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(g.waiting(0), 1u);
  EXPECT_EQ(g.waiting(1), 1u);
}

TEST(JobGraph, AnImageAskingTwiceWaitsOnce) {
  Graph g;
  g.need(0, "layer", 0);
  EXPECT_EQ(g.need(0, "layer", 0).found, Graph::Found::Again);
  EXPECT_EQ(g.waiting(0), 1u);
  EXPECT_EQ(g.done(0), (std::vector<size_t>{0}));
  EXPECT_EQ(g.waiting(0), 0u);
}

TEST(JobGraph, AnImageIsWholeWhenItsLastJobIsDone) {
  Graph g;
  const size_t config = g.need(0, "config", 0).job;
  const size_t shared = g.need(0, "shared", 0).job;
  g.need(1, "shared", 0);
  EXPECT_EQ(g.done(config), std::vector<size_t>{});  // image 0 still waits on "shared"
  EXPECT_EQ(g.done(shared), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(g.done(shared), std::vector<size_t>{});  // done twice: nothing the second time
  EXPECT_EQ(g[shared].state, Graph::State::Done);
}

TEST(JobGraph, ADoneJobJoinedLaterIsNothingToWaitFor) {
  Graph g;
  const size_t j = g.need(0, "layer", 0).job;
  g.done(j);
  EXPECT_EQ(g.need(1, "layer", 0).found, Graph::Found::Done);
  EXPECT_EQ(g.waiting(1), 0u);
}

TEST(JobGraph, AFailureReachesEveryImageOfTheJobAndThoseThatComeLater) {
  Graph g;
  const size_t j = g.need(0, "layer", 0).job;
  g.need(1, "layer", 0);
  g.need(1, "other", 0);
  const auto& failed = g.fail(j, core::error(core::ErrorKind::DigestMismatch, "bad bytes"));
  EXPECT_EQ(failed, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(g.waiting(1), 1u);  // still waits on "other"
  auto late = g.need(2, "layer", 0);
  EXPECT_EQ(late.found, Graph::Found::Failed);
  ASSERT_TRUE(g[late.job].error.has_value());
  EXPECT_EQ(g[late.job].error->message, "bad bytes");
  EXPECT_EQ(g.waiting(2), 0u);
}

TEST(JobGraph, AJobIsNeededWhileOneOfItsImagesIs) {
  Graph g;
  const size_t j = g.need(0, "layer", 0).job;
  g.need(1, "layer", 0);
  std::vector<bool> gone{true, false};
  auto is_gone = [&](size_t i) { return static_cast<bool>(gone[i]); };
  EXPECT_TRUE(g.needed(j, is_gone));
  gone[1] = true;
  EXPECT_FALSE(g.needed(j, is_gone));
  EXPECT_EQ(g.find("layer"), j);
  EXPECT_EQ(g.find("nothing"), std::nullopt);
}

}  // namespace
}  // namespace ferry::plan

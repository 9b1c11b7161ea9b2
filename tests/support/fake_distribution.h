// FakeDistribution: the content side of a registry for FakeRegistry handlers, enough
// of the distribution API to push to and pull from.
//
// Blobs per repository (HEAD/GET), uploads (POST, PATCH with Content-Range, PUT
// ?digest=, GET status with Range, cross-repository mount), manifests (PUT, GET,
// HEAD by tag or digest). Faults a test can switch on: relative Location headers,
// a PATCH that keeps half its chunk and then cuts the connection, uploads forgotten
// on a status query, a PUT that claims another digest. Auth is the caller's
// business: wrap handle() in the test's own auth handler.
//
// Thread-safe: handle() runs on the server thread, the accessors on the test's.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "support/fake_registry.h"

namespace ferry::testing {

class FakeDistribution {
 public:
  explicit FakeDistribution(std::string base_url) : base_(std::move(base_url)) {}

  FakeResponse handle(const FakeRequest& req);

  // Content, for seeding and assertions.
  void put_blob(const std::string& repo, const std::string& bytes);
  bool has_blob(const std::string& repo, const std::string& digest) const;
  std::string blob(const std::string& digest) const;
  // The manifest bytes a tag or digest names in `repo` ("" when none).
  std::string manifest(const std::string& repo, const std::string& ref) const;

  // Faults.
  std::atomic<bool> relative_locations{false};
  std::atomic<bool> allow_mounts{true};
  std::atomic<int> cut_patches{0};        // this many PATCHes keep half their chunk, then cut
  std::atomic<bool> forget_uploads_on_status{false};
  std::atomic<bool> lie_about_digest{false};
  // Like distribution: an index PUT naming a manifest the repository lacks is
  // refused (400 MANIFEST_BLOB_UNKNOWN).
  std::atomic<bool> check_index_children{false};

 private:
  struct Upload {
    std::string repo;
    std::string data;
    int state = 0;  // bumped on each step, carried in Location as _state (followed, not guessed)
  };
  FakeResponse upload_location(int status, const std::string& id, const Upload& u);
  std::string url(const std::string& path) const { return relative_locations ? path : base_ + path; }

  std::string base_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> blobs_;                 // digest -> bytes
  std::map<std::string, std::set<std::string>> repo_blobs_;  // repo -> digests linked
  std::map<std::string, std::map<std::string, std::pair<std::string, std::string>>> manifests_;  // repo -> ref -> (type, body)
  std::map<std::string, Upload> uploads_;
  int next_upload_ = 1;
};

}  // namespace ferry::testing

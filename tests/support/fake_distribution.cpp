// FakeDistribution: routing on the request path, state under one mutex.
#include "support/fake_distribution.h"

#include <string_view>

#include "digest/digest.h"

namespace ferry::testing {

namespace {

FakeResponse answer(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
  return FakeResponse{status, std::move(headers), std::move(body), std::nullopt, 0};
}

FakeResponse error(int status, const std::string& code) {
  return answer(status, R"({"errors":[{"code":")" + code + R"(","message":"fake"}]})",
                {{"Content-Type", "application/json"}});
}

std::string query_param(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    if (kv.substr(0, key.size() + 1) == key + "=") return std::string(kv.substr(key.size() + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::string range_header(const std::string& data) {
  return "0-" + std::to_string(data.empty() ? 0 : data.size() - 1);
}

}  // namespace

void FakeDistribution::put_blob(const std::string& repo, const std::string& bytes) {
  std::lock_guard lock(mu_);
  const std::string d = digest::sha256_of(bytes).str();
  blobs_[d] = bytes;
  repo_blobs_[repo].insert(d);
}

bool FakeDistribution::has_blob(const std::string& repo, const std::string& digest) const {
  std::lock_guard lock(mu_);
  auto it = repo_blobs_.find(repo);
  return it != repo_blobs_.end() && it->second.count(digest) != 0;
}

std::string FakeDistribution::blob(const std::string& digest) const {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(digest);
  return it == blobs_.end() ? std::string() : it->second;
}

std::string FakeDistribution::manifest(const std::string& repo, const std::string& ref) const {
  std::lock_guard lock(mu_);
  auto r = manifests_.find(repo);
  if (r == manifests_.end()) return {};
  auto m = r->second.find(ref);
  return m == r->second.end() ? std::string() : m->second.second;
}

FakeResponse FakeDistribution::upload_location(int status, const std::string& id, const Upload& u) {
  return answer(status, {},
                {{"Location", url("/v2/" + u.repo + "/blobs/uploads/" + id + "?_state=" + std::to_string(u.state))},
                 {"Range", range_header(u.data)},
                 {"Docker-Upload-UUID", id}});
}

FakeResponse FakeDistribution::handle(const FakeRequest& req) {
  const std::string path = req.path_only();
  if (path == "/v2/") return answer(200, "{}");
  if (path.rfind("/v2/", 0) != 0) return error(404, "NOT_FOUND");
  std::lock_guard lock(mu_);
  // /v2/<repo>/<kind>/<rest>: the repository is everything before the last kind marker.
  for (const std::string kind : {"/blobs/uploads/", "/blobs/", "/manifests/"}) {
    auto at = path.rfind(kind);
    if (at == std::string::npos || at < 4) continue;
    const std::string repo = path.substr(4, at - 4);
    const std::string rest = path.substr(at + kind.size());
    if (kind == "/blobs/uploads/") {
      if (req.method == "POST" && rest.empty()) {
        const std::string mount = query_param(req.path, "mount"), from = query_param(req.path, "from");
        if (!mount.empty() && allow_mounts && repo_blobs_[from].count(mount)) {
          repo_blobs_[repo].insert(mount);
          return answer(201, {}, {{"Location", url("/v2/" + repo + "/blobs/" + mount)}, {"Docker-Content-Digest", mount}});
        }
        const std::string id = "u" + std::to_string(next_upload_++);
        uploads_[id] = Upload{repo, {}, 0};
        return upload_location(202, id, uploads_[id]);
      }
      auto it = uploads_.find(rest);
      if (it == uploads_.end() || it->second.repo != repo) return error(404, "BLOB_UPLOAD_UNKNOWN");
      Upload& u = it->second;
      if (query_param(req.path, "_state") != std::to_string(u.state)) return error(400, "BLOB_UPLOAD_INVALID");
      if (req.method == "GET") {
        if (forget_uploads_on_status) {
          uploads_.erase(it);
          return error(404, "BLOB_UPLOAD_UNKNOWN");
        }
        return upload_location(204, rest, u);
      }
      if (req.method == "PATCH") {
        const std::string cr = req.header("content-range");
        if (cr.empty() || std::stoull(cr) != u.data.size()) return error(416, "BLOB_UPLOAD_INVALID");
        if (cut_patches > 0) {
          --cut_patches;
          u.data += req.body.substr(0, req.body.size() / 2);  // the old Location stays valid
          FakeResponse r = error(500, "CUT");
          r.cut_after = 0;
          r.body = std::string(100, 'x');
          return r;
        }
        u.data += req.body;
        ++u.state;
        return upload_location(202, rest, u);
      }
      if (req.method == "PUT") {
        u.data += req.body;
        const std::string want = query_param(req.path, "digest");
        const std::string got = digest::sha256_of(u.data).str();
        if (want != got) {
          uploads_.erase(it);
          return error(400, "DIGEST_INVALID");
        }
        blobs_[got] = u.data;
        repo_blobs_[repo].insert(got);
        uploads_.erase(it);
        const std::string served = lie_about_digest ? "sha256:" + std::string(64, '0') : got;
        return answer(201, {}, {{"Location", url("/v2/" + repo + "/blobs/" + got)}, {"Docker-Content-Digest", served}});
      }
      return error(405, "UNSUPPORTED");
    }
    if (kind == "/blobs/") {
      if (req.method != "GET" && req.method != "HEAD") return error(405, "UNSUPPORTED");
      if (!repo_blobs_[repo].count(rest)) return error(404, "BLOB_UNKNOWN");
      return answer(200, blobs_[rest], {{"Docker-Content-Digest", rest}});
    }
    auto& repo_manifests = manifests_[repo];
    if (req.method == "PUT") {
      const std::string d = digest::sha256_of(req.body).str();
      const std::string type = req.header("content-type");
      if (check_index_children && (type.find("index") != std::string::npos || type.find("list") != std::string::npos)) {
        for (size_t pos = req.body.find("\"digest\":\""); pos != std::string::npos;
             pos = req.body.find("\"digest\":\"", pos + 1)) {
          if (!repo_manifests.count(req.body.substr(pos + 10, 71))) return error(400, "MANIFEST_BLOB_UNKNOWN");
        }
      }
      repo_manifests[rest] = {type, req.body};
      repo_manifests[d] = {type, req.body};
      const std::string served = lie_about_digest ? "sha256:" + std::string(64, '0') : d;
      return answer(201, {}, {{"Location", url("/v2/" + repo + "/manifests/" + d)}, {"Docker-Content-Digest", served}});
    }
    auto m = repo_manifests.find(rest);
    if (m == repo_manifests.end()) return error(404, "MANIFEST_UNKNOWN");
    return answer(200, m->second.second,
                  {{"Content-Type", m->second.first}, {"Docker-Content-Digest", digest::sha256_of(m->second.second).str()}});
  }
  return error(404, "NOT_FOUND");
}

}  // namespace ferry::testing

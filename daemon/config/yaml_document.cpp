// The watchlist's one YAML document: a scouting pass over yaml-cpp's parser events
// (bounded in documents, so it ends even where YAML::LoadAll would loop forever),
// then YAML::Load for the tree.
#include "config/yaml_document.h"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ferry::config::detail {

namespace {

// Enough to see a second document, and a third starting where the second did (a
// token the parser cannot consume), without looping.
constexpr size_t kMaxScoutDocuments = 3;
// yaml-cpp's tree costs about 1 KB per node (520k tags took 501 MB): count the nodes
// in the scouting pass, which builds nothing, and refuse a watchlist past this many
// before the tree is built. 100k nodes is tens of thousands of references.
constexpr size_t kMaxNodes = 100000;

// Records where each document starts and where its root node is; builds nothing.
class DocumentScout final : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    YAML::Mark root = YAML::Mark::null_mark();
  };

  const std::vector<Document>& documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override { documents_.push_back(Document{mark}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (++nodes_ == kMaxNodes + 1) too_many_at_ = mark;
    if (!documents_.empty() && documents_.back().root.is_null()) documents_.back().root = mark;
  }

 public:
  // Where the node past kMaxNodes is, when there is one.
  const std::optional<YAML::Mark>& too_many_at() const { return too_many_at_; }

 private:
  size_t nodes_ = 0;
  std::optional<YAML::Mark> too_many_at_;

  std::vector<Document> documents_;
};

// The text at a mark, for "unexpected ','": the character there if it is printable
// ASCII. yaml-cpp's positions count bytes of UTF-8 input after a byte order mark.
std::string text_at(std::string_view yaml, const YAML::Mark& mark) {
  if (yaml.starts_with("\xEF\xBB\xBF")) yaml.remove_prefix(3);
  if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= yaml.size()) return "text";
  char c = yaml[static_cast<size_t>(mark.pos)];
  if (c <= ' ' || c >= 0x7f) return "text";
  return fmt::format("'{}'", c);
}

// Walks the documents of `yaml` (at most kMaxScoutDocuments). Throws what the
// parser throws.
core::Status scout(const Source& source, std::string_view yaml, DocumentScout& out) {
  std::istringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  while (out.documents().size() < kMaxScoutDocuments && parser.HandleNextDocument(out)) {
    const auto& docs = out.documents();
    if (out.too_many_at()) {
      return fail_at(source, *out.too_many_at(), fmt::format("more than {} YAML nodes in the watchlist", kMaxNodes));
    }
    if (docs.size() >= 2 && docs[docs.size() - 1].start.pos == docs[docs.size() - 2].start.pos) {
      const YAML::Mark& at = docs.back().start;
      return fail_at(source, at, fmt::format("unexpected {} where a value should start", text_at(yaml, at)));
    }
  }
  return {};
}

}  // namespace

core::Error error_from(const Source& source, const YAML::Exception& e) {
  if (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr) {
    return error_at(source, e.mark, "YAML nested too many levels deep");
  }
  return error_at(source, e.mark, echo(e.msg));
}

// YAML allows no C0 control character but tab, LF and CR, and no DEL, even inside
// quoted strings (they must be written as escapes). yaml-cpp reads some of them
// (a NUL ends a scalar early; "\0" then reads as an escape), so refuse them first,
// at their line and column.
core::Status refuse_control_bytes(const Source& source, std::string_view yaml) {
  int line = 0, column = 0;
  for (size_t i = 0; i < yaml.size(); ++i) {
    const auto c = static_cast<unsigned char>(yaml[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      YAML::Mark at;
      at.pos = static_cast<int>(i);
      at.line = line;
      at.column = column;
      return fail_at(source, at, fmt::format("control byte 0x{:02x} in the watchlist (not allowed in YAML)", c));
    }
    if (c == '\n') {
      ++line;
      column = 0;
    } else {
      ++column;
    }
  }
  return {};
}

core::Result<YAML::Node> load_document(const Source& source, std::string_view yaml) {
  if (auto st = refuse_control_bytes(source, yaml); !st) return core::fail(st.error());
  try {
    DocumentScout scouted;
    if (auto s = scout(source, yaml, scouted); !s) return core::fail(s.error());
    const auto& docs = scouted.documents();
    if (docs.empty()) {
      return fail_at(source, YAML::Mark::null_mark(), "empty watchlist: want a mapping with at least \"images\"");
    }
    if (docs.size() > 1) {
      return fail_at(source, docs[1].root, "more than one YAML document (one watchlist per file)");
    }
    return YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return core::fail(error_from(source, e));
  }
}

}  // namespace ferry::config::detail

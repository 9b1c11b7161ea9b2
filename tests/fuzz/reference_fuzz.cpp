// libFuzzer target: ferry::reference::parse.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "reference/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  auto r = reference::parse(fuzz::as_view(data, size));
  if (!r) {
    fuzz::check_error(r.error());
    return 0;
  }
  const reference::Reference& ref = *r;
  FUZZ_CHECK(!ref.domain.empty());
  FUZZ_CHECK(!ref.repository.empty());
  FUZZ_CHECK(!ref.tag.empty() || ref.digest.has_value());
  FUZZ_CHECK(ref.name().size() <= reference::kNameMaxLength);
  FUZZ_CHECK(ref.tag.size() <= reference::kTagMaxLength);

  // The normalised form parses back to the same reference.
  auto again = reference::parse(ref.str());
  if (!again) {
    fuzz::check_error(again.error());
    std::fprintf(stderr, "str() %s does not re-parse: %s\n", ref.str().c_str(), again.error().message.c_str());
    std::abort();
  }
  FUZZ_CHECK(*again == ref);

  // The familiar name parses back to the same name.
  auto fam = reference::parse(ref.familiar_name());
  FUZZ_CHECK(fam.has_value());
  FUZZ_CHECK(fam->name() == ref.name());

  // The familiar form keeps name and tag (the digest only when there is no tag).
  auto short_form = reference::parse(ref.familiar());
  FUZZ_CHECK(short_form.has_value());
  FUZZ_CHECK(short_form->name() == ref.name());
  FUZZ_CHECK(short_form->tag == ref.tag);
  if (ref.tag.empty()) FUZZ_CHECK(short_form->digest == ref.digest);

  if (ref.digest) FUZZ_CHECK(digest::Digest::parse(ref.digest->str()).has_value());
  FUZZ_CHECK(!ref.manifest_ref().empty());
  return 0;
}

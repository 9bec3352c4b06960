// libFuzzer target: bytes -> wac.v1.Resource (as the gRPC server receives
// them: strictly parsed, else leniently, strings as bytes) -> model
// (api/translate.cc).  Checks that an accepted resource's stored source
// parses strictly (no string that is not UTF-8 is ever stored) and
// translates again to the same model, and that rejected ones always say why.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/lenient_parse.h"
#include "api/translate.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wac::api;
  wac::v1::Resource resource;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (!resource.ParseFromArray(data, int(size)) && !parse_allowing_invalid_utf8(bytes, resource)) return 0;

  wac::model::Resource out;
  Problems problems = translate(resource, out);
  if (!problems.ok()) {
    check(!problems.str().empty());
    for (const auto& p : problems.items()) check(!p.message.empty());
    return 0;
  }
  wac::v1::Resource stored;
  check(stored.ParseFromString(out.source));
  wac::model::Resource again;
  check(translate(stored, again).ok());
  check(again == out);

  // The same resource twice in one request is a duplicate.
  google::protobuf::RepeatedPtrField<wac::v1::Resource> batch;
  *batch.Add() = resource;
  *batch.Add() = resource;
  std::vector<wac::model::Resource> all;
  check(!translate_all(batch, all).ok());
  check(all.empty());
  return 0;
}

// Reading a request that the protobuf runtime refuses for invalid UTF-8.
//
// proto3 requires string fields to be UTF-8, and the C++ runtime refuses a
// message that breaks the rule without saying which field did: gRPC then
// answers UNIMPLEMENTED with an empty message, as if the method did not
// exist.  wac's own checks (MessageChecker in api/translate.cc) name the
// field, so the server parses such a request again with this parser, which
// reads strings as bytes, and lets the usual validation refuse it with the
// field's name.
#pragma once
#include <string_view>

#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/message.h>

namespace wac::api {

// Parses `in` into `out` as out.ParseFromZeroCopyStream() would, except that
// a string field may hold any bytes.  False when the input is not the wire
// format of `out`'s type at all; `out` is then unspecified.
bool parse_allowing_invalid_utf8(google::protobuf::io::ZeroCopyInputStream& in, google::protobuf::Message& out);
bool parse_allowing_invalid_utf8(std::string_view bytes, google::protobuf::Message& out);

}  // namespace wac::api

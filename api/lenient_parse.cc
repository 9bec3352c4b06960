// The lenient parse: the message's own schema rebuilt with its strings as
// bytes (and as proto2, whose parser takes any bytes even in a string, as a
// map key must stay) in a pool of its own, a dynamic message of that twin
// type parsed, and its fields copied into the generated message by field
// number.  Setting a string through reflection
// never checks UTF-8, so the generated message then holds the bytes exactly
// as sent, for the validation to name.
#include "api/lenient_parse.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <spdlog/spdlog.h>

namespace wac::api {

namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using google::protobuf::Reflection;

// proto2 has no `optional` keyword of proto3's kind: such a field becomes a
// plain proto2 optional field (which has presence anyway), and the
// synthetic oneof protoc made for it goes.
void drop_proto3_optional(DescriptorProto& message) {
  int first_synthetic = message.oneof_decl_size();
  for (auto& field : *message.mutable_field()) {
    if (!field.proto3_optional()) continue;
    first_synthetic = std::min(first_synthetic, field.oneof_index());
    field.clear_proto3_optional();
    field.clear_oneof_index();
  }
  // protoc declares the synthetic oneofs after every real one.
  message.mutable_oneof_decl()->DeleteSubrange(first_synthetic, message.oneof_decl_size() - first_synthetic);
}

// Strings become bytes, which no parser checks (proto2's parser accepts
// any string too, but logs each one that is not UTF-8); a map key has to
// stay a string.
void strings_as_bytes(DescriptorProto& message) {
  for (auto& field : *message.mutable_field()) {
    bool map_key = message.options().map_entry() && field.number() == 1;
    if (field.type() == FieldDescriptorProto::TYPE_STRING && !map_key) field.set_type(FieldDescriptorProto::TYPE_BYTES);
  }
}

void make_lenient(DescriptorProto& message) {
  drop_proto3_optional(message);
  strings_as_bytes(message);
  for (auto& nested : *message.mutable_nested_type()) make_lenient(nested);
}

FileDescriptorProto lenient_twin(const FileDescriptor& file) {
  FileDescriptorProto proto;
  file.CopyTo(&proto);
  proto.set_syntax("proto2");
  for (auto& message : *proto.mutable_message_type()) make_lenient(message);
  return proto;
}

// The lenient twins of generated message types, built on first use.
class LenientTwins {
 public:
  // nullptr only if the schema cannot be rebuilt (a bug, logged).
  const Message* prototype(const google::protobuf::Descriptor& generated) {
    std::lock_guard lock(mu_);
    if (!add(*generated.file())) return nullptr;
    return factory_.GetPrototype(pool_.FindMessageTypeByName(generated.full_name()));
  }

 private:
  const FileDescriptor* add(const FileDescriptor& file) {
    if (const FileDescriptor* built = pool_.FindFileByName(file.name())) return built;
    for (int i = 0; i < file.dependency_count(); ++i)
      if (!add(*file.dependency(i))) return nullptr;
    const FileDescriptor* built = pool_.BuildFile(lenient_twin(file));
    if (!built) spdlog::error("api: cannot rebuild {} for lenient parsing", file.name());
    return built;
  }

  std::mutex mu_;
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};  // destroyed before the pool
};

LenientTwins& twins() {
  static auto* twins = new LenientTwins;  // never destroyed: parses may run while the process exits
  return *twins;
}

void copy_message(const Message& from, Message& to);

// One value of `f`: element `i` of a repeated field, or the field itself
// when i < 0.  `t` is the same field in `to`'s type.
void copy_value(const Message& from, const FieldDescriptor* f, int i, Message& to, const FieldDescriptor* t) {
  const Reflection& in = *from.GetReflection();
  const Reflection& out = *to.GetReflection();
  const bool each = i >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return each ? out.AddInt32(&to, t, in.GetRepeatedInt32(from, f, i)) : out.SetInt32(&to, t, in.GetInt32(from, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return each ? out.AddInt64(&to, t, in.GetRepeatedInt64(from, f, i)) : out.SetInt64(&to, t, in.GetInt64(from, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return each ? out.AddUInt32(&to, t, in.GetRepeatedUInt32(from, f, i))
                  : out.SetUInt32(&to, t, in.GetUInt32(from, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return each ? out.AddUInt64(&to, t, in.GetRepeatedUInt64(from, f, i))
                  : out.SetUInt64(&to, t, in.GetUInt64(from, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return each ? out.AddDouble(&to, t, in.GetRepeatedDouble(from, f, i))
                  : out.SetDouble(&to, t, in.GetDouble(from, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return each ? out.AddFloat(&to, t, in.GetRepeatedFloat(from, f, i)) : out.SetFloat(&to, t, in.GetFloat(from, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return each ? out.AddBool(&to, t, in.GetRepeatedBool(from, f, i)) : out.SetBool(&to, t, in.GetBool(from, f));
    case FieldDescriptor::CPPTYPE_ENUM:
      return each ? out.AddEnumValue(&to, t, in.GetRepeatedEnumValue(from, f, i))
                  : out.SetEnumValue(&to, t, in.GetEnumValue(from, f));
    case FieldDescriptor::CPPTYPE_STRING:
      return each ? out.AddString(&to, t, in.GetRepeatedString(from, f, i))
                  : out.SetString(&to, t, in.GetString(from, f));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return copy_message(each ? in.GetRepeatedMessage(from, f, i) : in.GetMessage(from, f),
                          each ? *out.AddMessage(&to, t) : *out.MutableMessage(&to, t));
  }
}

// Map fields go through as their entries, which reflection offers as a
// repeated message field; unknown fields go through as they came, so the
// validation reports them as it would have.
void copy_message(const Message& from, Message& to) {
  const Reflection& in = *from.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  in.ListFields(from, &fields);
  for (const FieldDescriptor* f : fields) {
    const FieldDescriptor* t = to.GetDescriptor()->FindFieldByNumber(f->number());
    if (!f->is_repeated()) copy_value(from, f, -1, to, t);
    else
      for (int i = 0, n = in.FieldSize(from, f); i < n; ++i) copy_value(from, f, i, to, t);
  }
  to.GetReflection()->MutableUnknownFields(&to)->MergeFrom(in.GetUnknownFields(from));
}

}  // namespace

bool parse_allowing_invalid_utf8(google::protobuf::io::ZeroCopyInputStream& in, Message& out) {
  const Message* prototype = twins().prototype(*out.GetDescriptor());
  if (!prototype) return false;
  std::unique_ptr<Message> twin(prototype->New());
  if (!twin->ParseFromZeroCopyStream(&in)) return false;
  out.Clear();
  copy_message(*twin, out);
  return true;
}

bool parse_allowing_invalid_utf8(std::string_view bytes, Message& out) {
  google::protobuf::io::ArrayInputStream in(bytes.data(), int(bytes.size()));
  return parse_allowing_invalid_utf8(in, out);
}

}  // namespace wac::api

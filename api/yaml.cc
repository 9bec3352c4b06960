#include "api/yaml.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "api/kinds.h"
#include "api/validate.h"

namespace wac::api {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

constexpr size_t kMaxErrors = 20;
constexpr size_t kMaxDocuments = 1'000'000;

// Metadata the API server fills in; meaningless to wac, so skipped.
const std::set<std::string, std::less<>> kIgnoredMetadata = {
    "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink",
    "ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds"};

std::string line_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return {};
  return " (line " + std::to_string(m.line + 1) + ")";
}

std::string join(std::string_view base, std::string_view field) {
  std::string p(base);
  if (!p.empty()) p += '.';
  p += field;
  return p;
}

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
  }
}

// Errors of one input, each prefixed with where it came from.
class Errors {
 public:
  void add(const std::string& where, const std::string& path, const std::string& message, const YAML::Node* node) {
    if (lines_.size() >= kMaxErrors) {
      ++dropped_;
      return;
    }
    std::string line = where;
    if (!path.empty()) line += ": " + path;
    line += ": " + message;
    if (node) line += line_of(*node);
    lines_.push_back(std::move(line));
  }
  bool empty() const { return lines_.empty(); }
  Status status() const {
    std::string msg;
    for (const auto& l : lines_) msg += (msg.empty() ? "" : "\n") + l;
    if (dropped_) msg += "\n... and " + std::to_string(dropped_) + " more problems";
    return msg.empty() ? Status::Ok() : Status::Error(msg);
  }

 private:
  std::vector<std::string> lines_;
  size_t dropped_ = 0;
};

// Fills a message from a YAML mapping, field by field through reflection.
class Walker {
 public:
  Walker(Errors& errors, std::string where, size_t& budget) : errors_(errors), where_(std::move(where)), budget_(budget) {}

  void message(const YAML::Node& node, Message& m, const std::string& path,
               const std::set<std::string, std::less<>>* ignored = nullptr) {
    if (!spend(node)) return;
    if (!node.IsMap()) {
      error(path, std::string("expected a mapping, got ") + type_name(node), node);
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const YAML::Node key = kv.first;
      if (!key.IsScalar()) {
        error(path, "field names must be scalars", key);
        continue;
      }
      const std::string name = key.Scalar();
      std::string fpath = join(path, name);
      if (!seen.insert(name).second) {
        error(fpath, "duplicate field", key);
        continue;
      }
      if (ignored && ignored->count(name)) continue;
      const FieldDescriptor* f = find_field(m.GetDescriptor(), name);
      if (!f) {
        error(fpath, "unknown field", key);
        continue;
      }
      field(kv.second, m, f, fpath);
    }
  }

 private:
  bool spend(const YAML::Node& node) {
    if (budget_ == 0) return false;
    if (--budget_ == 0) {
      error("", "document expands far beyond its size (nested YAML aliases?)", node);
      return false;
    }
    return true;
  }

  void error(const std::string& path, const std::string& message, const YAML::Node& node) {
    errors_.add(where_, path, message, &node);
  }

  static const FieldDescriptor* find_field(const Descriptor* d, std::string_view json_name) {
    for (int i = 0; i < d->field_count(); ++i)
      if (d->field(i)->json_name() == json_name) return d->field(i);
    return nullptr;
  }

  void field(const YAML::Node& value, Message& m, const FieldDescriptor* f, const std::string& path) {
    if (value.IsNull()) return;  // "field:" or "field: null" means unset, as in Kubernetes
    if (f->is_map()) return map_field(value, m, f, path);
    if (f->is_repeated()) return repeated_field(value, m, f, path);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
      return message(value, *m.GetReflection()->MutableMessage(&m, f), path);
    scalar(value, m, f, path, false);
  }

  void repeated_field(const YAML::Node& value, Message& m, const FieldDescriptor* f, const std::string& path) {
    if (!spend(value)) return;
    if (!value.IsSequence()) {
      error(path, std::string("expected a list, got ") + type_name(value), value);
      return;
    }
    size_t i = 0;
    for (const YAML::Node element : value) {
      std::string ipath = path + "[" + std::to_string(i++) + "]";
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Message* item = m.GetReflection()->AddMessage(&m, f);
        if (!element.IsNull()) message(element, *item, ipath);
      } else {
        scalar(element, m, f, ipath, true);
      }
    }
  }

  void map_field(const YAML::Node& value, Message& m, const FieldDescriptor* f, const std::string& path) {
    if (!spend(value)) return;
    if (!value.IsMap()) {
      error(path, std::string("expected a mapping, got ") + type_name(value), value);
      return;
    }
    const FieldDescriptor* key_f = f->message_type()->map_key();
    const FieldDescriptor* value_f = f->message_type()->map_value();
    std::set<std::string> seen;
    for (const auto& kv : value) {
      const YAML::Node k = kv.first, v = kv.second;
      if (!spend(v)) return;
      if (!k.IsScalar()) {
        error(path, "keys must be scalars", k);
        continue;
      }
      const std::string key = k.Scalar();
      std::string kpath = path + "[" + check::quoted(key) + "]";
      if (!seen.insert(key).second) {
        error(kpath, "duplicate key", k);
        continue;
      }
      if (!v.IsScalar() && !v.IsNull()) {
        error(kpath, std::string("expected a string, got ") + type_name(v), v);
        continue;
      }
      std::string text = v.IsNull() ? "" : v.Scalar();
      if (!utf8_ok(key, kpath, k) || !utf8_ok(text, kpath, v)) continue;
      Message* entry = m.GetReflection()->AddMessage(&m, f);
      entry->GetReflection()->SetString(entry, key_f, key);
      entry->GetReflection()->SetString(entry, value_f, text);
    }
  }

  bool utf8_ok(const std::string& s, const std::string& path, const YAML::Node& node) {
    if (check::valid_utf8(s)) return true;
    error(path, "invalid UTF-8", node);
    return false;
  }

  void scalar(const YAML::Node& node, Message& m, const FieldDescriptor* f, const std::string& path, bool repeated) {
    if (!spend(node)) return;
    if (!node.IsScalar()) {
      error(path, std::string("expected a value, got ") + type_name(node), node);
      return;
    }
    const std::string& text = node.Scalar();
    const Reflection* r = m.GetReflection();
    // A quoted scalar is a string in YAML; only plain ones can be numbers.
    bool quoted = node.Tag() == "!";
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (!utf8_ok(text, path, node)) return;
        repeated ? r->AddString(&m, f, text) : r->SetString(&m, f, text);
        return;
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT64:
        return integer(node, text, quoted, m, f, path, repeated);
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        char* end = nullptr;
        errno = 0;
        double v = text.empty() || quoted ? NAN : std::strtod(text.c_str(), &end);
        if (quoted || text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) {
          error(path, "expected a number, got " + check::quoted(text), node);
          return;
        }
        repeated ? r->AddDouble(&m, f, v) : r->SetDouble(&m, f, v);
        return;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (!quoted && (text == "true" || text == "True" || text == "TRUE")) v = true;
        else if (!quoted && (text == "false" || text == "False" || text == "FALSE")) v = false;
        else {
          error(path, "expected true or false, got " + check::quoted(text), node);
          return;
        }
        repeated ? r->AddBool(&m, f, v) : r->SetBool(&m, f, v);
        return;
      }
      default:
        error(path, "unsupported field type", node);
    }
  }

  void integer(const YAML::Node& node, const std::string& text, bool quoted, Message& m, const FieldDescriptor* f,
               const std::string& path, bool repeated) {
    bool is_signed = f->cpp_type() == FieldDescriptor::CPPTYPE_INT32 || f->cpp_type() == FieldDescriptor::CPPTYPE_INT64;
    bool wide = f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 || f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
    std::string_view digits = text;
    bool negative = is_signed && digits.starts_with('-');
    if (negative) digits.remove_prefix(1);
    bool ok = !quoted && !digits.empty() && digits.size() <= 19 &&
              digits.find_first_not_of("0123456789") == std::string_view::npos;
    uint64_t magnitude = ok ? std::strtoull(std::string(digits).c_str(), nullptr, 10) : 0;
    uint64_t limit = wide ? (is_signed ? uint64_t(INT64_MAX) : UINT64_MAX) : (is_signed ? uint64_t(INT32_MAX) : UINT32_MAX);
    if (!ok || magnitude > limit + (negative ? 1 : 0)) {
      error(path, "expected an integer, got " + check::quoted(text), node);
      return;
    }
    const Reflection* r = m.GetReflection();
    int64_t sv = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: repeated ? r->AddInt32(&m, f, int32_t(sv)) : r->SetInt32(&m, f, int32_t(sv)); break;
      case FieldDescriptor::CPPTYPE_INT64: repeated ? r->AddInt64(&m, f, sv) : r->SetInt64(&m, f, sv); break;
      case FieldDescriptor::CPPTYPE_UINT32: repeated ? r->AddUInt32(&m, f, uint32_t(magnitude)) : r->SetUInt32(&m, f, uint32_t(magnitude)); break;
      default: repeated ? r->AddUInt64(&m, f, magnitude) : r->SetUInt64(&m, f, magnitude); break;
    }
  }

  Errors& errors_;
  std::string where_;
  size_t& budget_;
};

std::string scalar_or_empty(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap()) return {};
  const YAML::Node v = map[key];
  return v && v.IsScalar() ? v.Scalar() : std::string();
}

std::string supported_kinds() {
  std::string out;
  for (const auto& k : all_kinds()) out += std::string(out.empty() ? "" : ", ") + k.api_version + " " + k.yaml_kind;
  return out;
}

class DocumentReader {
 public:
  DocumentReader(std::string_view source, const YamlOptions& options, size_t budget, std::vector<Document>& out)
      : source_(source), options_(options), budget_(budget), out_(out) {}

  Errors& errors() { return errors_; }

  void read(const YAML::Node& doc, const std::string& origin, const KindInfo* implied = nullptr,
            const std::string& implied_api_version = {}) {
    if (doc.IsNull()) return;  // empty document, e.g. after a trailing "---"
    if (!doc.IsMap()) {
      errors_.add(origin, "", std::string("expected a mapping (apiVersion, kind, metadata, spec), got ") +
                                  type_name(doc), &doc);
      return;
    }
    std::string api_version = scalar_or_empty(doc, "apiVersion");
    std::string kind = scalar_or_empty(doc, "kind");
    if (api_version.empty() && implied) api_version = implied_api_version;
    if (kind.empty() && implied) kind = implied->yaml_kind;
    if (!implied && api_version.empty() && kind.empty() && doc["SecurityGroups"])
      return read_describe_security_groups(doc, origin);
    if (kind == "List" || (kind.size() > 4 && kind.ends_with("List"))) return read_list(doc, origin, api_version, kind);
    const KindInfo* info = kind_by_yaml(api_version, kind);
    if (!info) return unsupported(doc, origin, api_version, kind);
    read_resource(doc, origin, *info);
  }

 private:
  void unsupported(const YAML::Node& doc, const std::string& origin, const std::string& api_version,
                   const std::string& kind) {
    if (api_version.empty() || kind.empty()) {
      errors_.add(origin, "", api_version.empty() ? "apiVersion: required" : "kind: required", &doc);
      return;
    }
    std::string msg = "unsupported apiVersion/kind " + check::quoted(api_version) + " " + check::quoted(kind);
    if (api_version == "crd.projectcalico.org/v1")
      msg += " (crd.projectcalico.org/v1 is Calico's storage form; write projectcalico.org/v3)";
    else
      msg += " (supported: " + supported_kinds() + ")";
    errors_.add(origin, "", msg, &doc);
  }

  void read_list(const YAML::Node& doc, const std::string& origin, const std::string& api_version,
                 const std::string& kind) {
    const KindInfo* item_kind = nullptr;
    if (kind != "List") {
      item_kind = kind_by_yaml(api_version, kind.substr(0, kind.size() - 4));
      if (!item_kind) return unsupported(doc, origin, api_version, kind);
    }
    for (const auto& kv : doc) {
      const YAML::Node k = kv.first;
      std::string key = k.IsScalar() ? k.Scalar() : "";
      if (key != "apiVersion" && key != "kind" && key != "items" && key != "metadata")
        errors_.add(origin + " (" + kind + ")", key, "unknown field", &k);
    }
    YAML::Node items = doc["items"];
    if (!items || items.IsNull()) return;
    if (!items.IsSequence()) {
      errors_.add(origin + " (" + kind + ")", "items", "expected a list", &items);
      return;
    }
    size_t i = 0;
    for (const YAML::Node item : items) {
      if (item.IsMap() && scalar_or_empty(item, "kind").ends_with("List")) {
        errors_.add(origin + ", items[" + std::to_string(i) + "]", "", "lists cannot be nested", &item);
        continue;
      }
      read(item, origin + ", items[" + std::to_string(i) + "]", item_kind, api_version);
      ++i;
    }
  }

  // `aws ec2 describe-security-groups` output as it stands: each element of
  // SecurityGroups is a SecurityGroup spec under AWS's own field names.
  void read_describe_security_groups(const YAML::Node& doc, const std::string& origin) {
    for (const auto& kv : doc) {
      const YAML::Node k = kv.first;
      std::string key = k.IsScalar() ? k.Scalar() : "";
      // NextToken only says that AWS holds more groups than this output.
      if (key != "SecurityGroups" && key != "NextToken")
        errors_.add(origin + " (describe-security-groups output)", key, "unknown field", &k);
    }
    const YAML::Node groups = doc["SecurityGroups"];
    if (groups.IsNull()) return;
    if (!groups.IsSequence()) {
      errors_.add(origin, "SecurityGroups", std::string("expected a list, got ") + type_name(groups), &groups);
      return;
    }
    size_t i = 0;
    for (const auto& group : groups) {
      std::string path = "SecurityGroups[" + std::to_string(i++) + "]";
      v1::Resource resource;
      v1::SecurityGroup* sg = resource.mutable_security_group();
      std::string where = origin + " (" + describe("SecurityGroup", "", scalar_or_empty(group, "GroupId")) + ")";
      Walker(errors_, where, budget_).message(group, *sg->mutable_spec(), path);
      sg->mutable_metadata()->set_name(sg->spec().group_id());
      if (out_.size() >= kMaxDocuments) {
        errors_.add(origin, "", "too many documents (at most " + std::to_string(kMaxDocuments) + ")", nullptr);
        return;
      }
      out_.push_back({std::move(resource), origin, path});
    }
  }

  void read_resource(const YAML::Node& doc, const std::string& origin, const KindInfo& kind) {
    v1::Resource resource;
    const FieldDescriptor* oneof_field = resource.GetDescriptor()->FindFieldByNumber(int(kind.oneof));
    Message* body = resource.GetReflection()->MutableMessage(&resource, oneof_field);
    const FieldDescriptor* meta_f = body->GetDescriptor()->FindFieldByName("metadata");
    const FieldDescriptor* spec_f = body->GetDescriptor()->FindFieldByName("spec");

    YAML::Node meta_node = doc["metadata"];
    std::string where = origin + " (" +
                        describe(kind.name, scalar_or_empty(meta_node, "namespace"), scalar_or_empty(meta_node, "name")) +
                        ")";
    Walker walker(errors_, where, budget_);
    for (const auto& kv : doc) {
      const YAML::Node k = kv.first, v = kv.second;
      if (!k.IsScalar()) {
        errors_.add(where, "", "field names must be scalars", &k);
        continue;
      }
      const std::string key = k.Scalar();
      if (key == "apiVersion" || key == "kind" || key == "status") continue;
      if (key == "metadata") walker.message(v, *body->GetReflection()->MutableMessage(body, meta_f), key, &kIgnoredMetadata);
      else if (key == "spec") {
        if (!v.IsNull()) walker.message(v, *body->GetReflection()->MutableMessage(body, spec_f), key);
      } else errors_.add(where, key, "unknown field", &k);
    }
    if (!meta_node) errors_.add(where, "metadata", "required", &doc);
    v1::ObjectMeta* meta = mutable_metadata_of(resource);
    if (kind.namespaced && meta->namespace_().empty()) meta->set_namespace_(options_.default_namespace);
    if (out_.size() >= kMaxDocuments) {
      errors_.add(origin, "", "too many documents (at most " + std::to_string(kMaxDocuments) + ")", nullptr);
      return;
    }
    out_.push_back({std::move(resource), origin});
  }

  std::string source_;
  const YamlOptions& options_;
  size_t budget_;
  std::vector<Document>& out_;
  Errors errors_;
};

// ------------------------------------------------------------ output

// Calico writes numeric ports and protocols as numbers; so do we.
void numbers_for_int_or_string(nlohmann::ordered_json& j) {
  auto as_number = [](nlohmann::ordered_json& v) {
    if (!v.is_string()) return;
    const std::string& s = v.get_ref<const std::string&>();
    if (auto n = check::parse_decimal(s, 65535)) v = *n;
  };
  if (j.is_array()) {
    for (auto& item : j) numbers_for_int_or_string(item);
    return;
  }
  if (!j.is_object()) return;
  for (auto& [key, value] : j.items()) {
    if ((key == "ports" || key == "notPorts") && value.is_array()) {
      for (auto& p : value) as_number(p);
    } else if (key == "protocol" || key == "notProtocol" || key == "port") {
      as_number(value);
    }
    numbers_for_int_or_string(value);
  }
}

// Plain YAML scalars that a YAML reader would not take as strings.
bool needs_quotes(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return true;
  // yaml-cpp writes control characters raw in plain scalars, where a reader
  // drops or folds them; double quotes escape them.
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  static const std::set<std::string> special = {"null", "Null", "NULL", "~", "true", "True", "TRUE",
                                                "false", "False", "FALSE", "yes", "Yes", "YES", "no",
                                                "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "n"};
  if (special.count(s)) return true;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  if (end == s.c_str() + s.size()) return true;  // looks like a number
  return s.find(':') != std::string::npos;       // "8080:8090" would be a YAML 1.1 sexagesimal number
}

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key;
      if (needs_quotes(k)) out << YAML::DoubleQuoted;
      out << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (needs_quotes(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_unsigned()) {
    out << j.get<uint64_t>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number_float()) {
    out << j.dump();  // nlohmann prints the shortest form that round-trips
  } else {
    out << YAML::Null;
  }
}

// yaml-cpp 0.7's LoadAll() loops forever, allocating, on some malformed
// input (",", "[:"-like streams; fixed upstream in 0.8.0, jbeder/yaml-cpp
// #1319): the parser keeps reporting an empty document without consuming
// anything.  Walk the stream once with a handler that only counts documents;
// a real stream cannot hold more documents than it has bytes.
class DocumentCounter : public YAML::EventHandler {
 public:
  size_t documents = 0;
  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Throws YAML::Exception for a syntax error, like LoadAll would.
bool load_all_terminates(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  while (parser.HandleNextDocument(counter))
    if (counter.documents > text.size() + 1) return false;
  return true;
}

}  // namespace

Status parse_documents(std::string_view text, std::string_view source, std::vector<Document>& out,
                       const YamlOptions& options) {
  std::vector<YAML::Node> docs;
  try {
    std::string input(text);
    if (!load_all_terminates(input)) return Status::Error(std::string(source) + ": invalid YAML: the parser makes no progress");
    docs = YAML::LoadAll(input);
  } catch (const YAML::Exception& e) {
    std::string where(source);
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return Status::Error(where + ": invalid YAML: " + e.msg);
  }
  // Each YAML node takes at least one byte of input unless aliases repeat
  // it; the budget stops alias "bombs" from expanding without bound.
  size_t budget = text.size() + 1024;
  std::vector<Document> result;
  DocumentReader reader(source, options, budget, result);
  for (size_t i = 0; i < docs.size(); ++i) {
    std::string origin = std::string(source) + ": document " + std::to_string(i + 1);
    try {
      reader.read(docs[i], origin);
    } catch (const YAML::Exception& e) {  // defensive: yaml-cpp throws on misuse of absent nodes
      reader.errors().add(origin, "", "unreadable document: " + e.msg, nullptr);
    }
  }
  if (!reader.errors().empty()) return reader.errors().status();
  out.insert(out.end(), std::make_move_iterator(result.begin()), std::make_move_iterator(result.end()));
  return Status::Ok();
}

namespace {

// A translation path ("spec.IpPermissions[0]") as the input wrote it.
std::string input_path(const Document& doc, const std::string& path) {
  if (doc.spec_path.empty()) return path;
  if (path == "spec") return doc.spec_path;
  if (path.starts_with("spec.")) return doc.spec_path + path.substr(4);
  if (path == "metadata.name") return doc.spec_path + ".GroupId";
  return path;
}

}  // namespace

std::string format_problem(const Document& doc, const Problem& p) {
  std::string out = doc.origin;
  if (!p.resource.empty()) out += " (" + p.resource + ")";
  if (!p.path.empty()) out += ": " + input_path(doc, p.path);
  if (!p.message.empty()) out += ": " + p.message;
  return out;
}

nlohmann::ordered_json to_json(const v1::Resource& r) {
  nlohmann::ordered_json j;
  const KindInfo* kind = kind_of(r);
  if (!kind) return j;
  const FieldDescriptor* f = r.GetDescriptor()->FindFieldByNumber(int(kind->oneof));
  const Message& body = r.GetReflection()->GetMessage(r, f);
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  (void)google::protobuf::util::MessageToJsonString(body, &text, opts);
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  j["apiVersion"] = kind->api_version;
  j["kind"] = kind->yaml_kind;
  j["metadata"] = parsed.contains("metadata") ? parsed["metadata"] : nlohmann::ordered_json::object();
  if (parsed.contains("spec")) j["spec"] = parsed["spec"];
  numbers_for_int_or_string(j);
  return j;
}

std::string to_json_text(const std::vector<v1::Resource>& resources) {
  if (resources.size() == 1) return to_json(resources[0]).dump(2) + "\n";
  nlohmann::ordered_json list;
  list["apiVersion"] = "v1";
  list["kind"] = "List";
  list["items"] = nlohmann::ordered_json::array();
  for (const auto& r : resources) list["items"].push_back(to_json(r));
  return list.dump(2) + "\n";
}

std::string to_yaml_text(const std::vector<v1::Resource>& resources) {
  std::string out;
  for (const auto& r : resources) {
    YAML::Emitter e;
    emit(e, to_json(r));
    if (!out.empty()) out += "---\n";
    out += e.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace wac::api

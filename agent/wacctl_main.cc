// wacctl: apply, delete and inspect wac resources through wacd's socket.
//
//   wacctl [--socket PATH] apply -f FILE|- ...
//   wacctl [--socket PATH] delete -f FILE|- ...  |  delete KIND NAME [-n NS]
//   wacctl [--socket PATH] replace -f FILE|- ... --revision N
//   wacctl [--socket PATH] get KIND [NAME] [-n NS | -A] [-o table|yaml|json]
//   wacctl [--socket PATH] status
//   wacctl [--socket PATH] explain POD [-n NS] [--nft] [-o text|json]
//   wacctl [--socket PATH] reload
//   wacctl [--socket PATH] dns [NAME] [-o text|json]
//   wacctl [--socket PATH] flows [-f] [--recent N] [-o text|json]
//   wacctl --server HOST:PORT --tls-ca CA --tls-cert CERT --tls-key KEY ...   (TCP, mutual TLS)
//
// Documents are validated here before anything is sent, so problems are
// reported with their file, document and field path; wacd validates again.
// Exit status: 0 success, 1 failure (invalid input, wacd error), 2 usage.
#include <unistd.h>

#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "api/client.h"
#include "api/dns_format.h"
#include "api/flow_format.h"
#include "api/control_format.h"
#include "api/kinds.h"
#include "api/table.h"
#include "api/tls.h"
#include "api/translate.h"
#include "api/yaml.h"

namespace {

using namespace wac;
using namespace wac::api;

constexpr size_t kMaxInputBytes = 256 * 1024 * 1024;  // as the server's message limit
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Globals {
  std::string socket = "/run/wac/wacd.sock";
  int timeout_seconds = 60;
  std::string server;  // HOST:PORT of wacd's TCP listener, instead of the socket
  ClientTlsOptions tls;
  std::shared_ptr<grpc::Channel> channel;  // to `server`, made once the flags are parsed
  Client client() const {
    if (channel) return Client(channel, std::chrono::seconds(timeout_seconds), server);
    return Client(socket, std::chrono::seconds(timeout_seconds));
  }
};

// --server and the TLS flags go together like this, or it is a usage error.
Status check_tcp_flags(const Globals& g) {
  bool tls_flags = !g.tls.cert_file.empty() || !g.tls.key_file.empty() || !g.tls.ca_file.empty() ||
                   !g.tls.server_name.empty();
  if (g.server.empty()) {
    if (tls_flags || g.tls.insecure) return Status::Error("--tls-* and --insecure need --server HOST:PORT");
    return Status::Ok();
  }
  if (g.tls.insecure && tls_flags) return Status::Error("--insecure: cannot be combined with --tls-* flags");
  if (!g.tls.insecure && g.tls.ca_file.empty())
    return Status::Error("--tls-ca: required with --server (or --insecure for a plaintext listener)");
  return Status::Ok();
}

void print_json(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(message, &text, opts);
  std::cout << text;
}

int fail(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return kExitFailure;
}

Status read_input(const std::string& file, std::string& out) {
  std::istream* in = &std::cin;
  std::ifstream f;
  if (file != "-") {
    f.open(file, std::ios::binary);
    if (!f) return Status::Error(file + ": cannot open: " + std::strerror(errno));
    in = &f;
  }
  std::ostringstream buf;
  char chunk[65536];
  while (in->read(chunk, sizeof chunk) || in->gcount() > 0) {
    buf.write(chunk, in->gcount());
    if (size_t(buf.tellp()) > kMaxInputBytes)
      return Status::Error((file == "-" ? "<stdin>" : file) + ": larger than " +
                           std::to_string(kMaxInputBytes >> 20) + " MiB");
  }
  if (in->bad()) return Status::Error(file + ": read error");
  out = buf.str();
  return Status::Ok();
}

// Reads, parses and validates every file; prints every problem found.
bool load_documents(const std::vector<std::string>& files, const std::string& default_ns,
                    std::vector<Document>& docs) {
  bool ok = true;
  YamlOptions options;
  if (!default_ns.empty()) options.default_namespace = default_ns;
  for (const auto& file : files) {
    std::string text;
    if (Status s = read_input(file, text); !s) {
      std::cerr << "error: " << s.message() << "\n";
      ok = false;
      continue;
    }
    if (Status s = parse_documents(text, file == "-" ? "<stdin>" : file, docs, options); !s) {
      std::cerr << s.message() << "\n";
      ok = false;
    }
  }
  return ok;
}

bool validate_documents(const std::vector<Document>& docs) {
  bool ok = true;
  std::map<model::Key, const Document*> seen;
  for (const auto& doc : docs) {
    model::Resource translated;
    Problems problems = translate(doc.resource, translated);
    for (const auto& p : problems.items()) std::cerr << format_problem(doc, p) << "\n";
    if (problems.dropped()) std::cerr << doc.origin << ": ... and " << problems.dropped() << " more problems\n";
    if (!problems.ok()) {
      ok = false;
      continue;
    }
    auto [it, inserted] = seen.emplace(translated.key, &doc);
    if (!inserted) {
      std::cerr << doc.origin << " (" << describe(doc.resource) << "): duplicate of " << it->second->origin << "\n";
      ok = false;
    }
  }
  return ok;
}

// The whole desired state at once, as a controller sends it: anything wacd
// holds that the files do not name is deleted.
int cmd_replace(const Globals& g, const std::vector<std::string>& files, const std::string& ns, uint64_t revision) {
  std::vector<Document> docs;
  if (!load_documents(files, ns, docs) || !validate_documents(docs)) return kExitFailure;
  std::vector<v1::Resource> resources;
  for (const auto& d : docs) resources.push_back(d.resource);
  if (Status s = g.client().replace_all(resources, revision); !s) return fail(s.message());
  std::cout << resources.size() << " resources in place at revision " << revision << "\n";
  return 0;
}

int cmd_apply(const Globals& g, const std::vector<std::string>& files, const std::string& ns) {
  std::vector<Document> docs;
  if (!load_documents(files, ns, docs) || !validate_documents(docs)) return kExitFailure;
  if (docs.empty()) return fail("no resources in input");
  std::vector<v1::Resource> resources;
  for (const auto& d : docs) resources.push_back(d.resource);
  if (Status s = g.client().apply(resources); !s) return fail(s.message());
  for (const auto& r : resources) std::cout << describe(r) << " applied\n";
  return 0;
}

int cmd_delete(const Globals& g, const std::vector<std::string>& files, const std::vector<std::string>& args,
               const std::string& ns) {
  std::vector<v1::ResourceRef> refs;
  if (!files.empty()) {
    if (!args.empty()) return fail("give either -f FILE or KIND NAME, not both");
    std::vector<Document> docs;
    if (!load_documents(files, ns, docs)) return kExitFailure;
    for (const auto& d : docs) refs.push_back(ref_of(d.resource));
  } else {
    if (args.size() != 2) return fail("usage: wacctl delete -f FILE | wacctl delete KIND NAME [-n NS]");
    const KindInfo* kind = kind_by_alias(args[0]);
    if (!kind) return fail("unknown resource kind " + args[0]);
    v1::ResourceRef ref;
    ref.set_kind(kind->name);
    ref.set_name(args[1]);
    if (kind->namespaced) ref.set_namespace_(ns.empty() ? "default" : ns);
    refs.push_back(ref);
  }
  if (refs.empty()) return fail("nothing to delete");
  if (Status s = g.client().remove(refs); !s) return fail(s.message());
  for (const auto& r : refs) std::cout << describe(r.kind(), r.namespace_(), r.name()) << " deleted\n";
  return 0;
}

// Egress gateways as this node runs them: state, table, local pods.
int cmd_egress(const Globals& g, const std::string& name, const std::string& output) {
  v1::EgressStatusResponse status;
  if (Status s = g.client().egress_status(status); !s) return fail(s.message());
  if (!name.empty()) {
    auto* groups = status.mutable_groups();
    groups->erase(std::remove_if(groups->begin(), groups->end(), [&](const auto& gr) { return gr.name() != name; }),
                  groups->end());
    if (groups->empty()) return fail("EgressGateway " + name + " not found");
  }
  if (output == "json") {
    std::string text;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    opts.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(status, &text, opts);
    std::cout << text;
  } else {
    std::cout << format_egress_status(status);
  }
  return 0;
}

int cmd_explain(const Globals& g, const std::string& pod, const std::string& ns, bool with_nft,
                const std::string& output) {
  v1::ExplainResponse explanation;
  if (Status s = g.client().explain(ns.empty() ? "default" : ns, pod, explanation); !s) return fail(s.message());
  if (output == "json") print_json(explanation);
  else std::cout << format_explanation(explanation, with_nft);
  return 0;
}

// Learned DNS names, their addresses and remaining TTLs, the sets they feed.
int cmd_dns(const Globals& g, const std::string& name, const std::string& output) {
  v1::DnsResponse dns;
  if (Status s = g.client().dns(name, dns); !s) return fail(s.message());
  if (output == "json") print_json(dns);
  else std::cout << format_dns(dns);
  return 0;
}

// Flow log records: the latest ones, and with -f each new one as it comes
// (until interrupted). JSON output is the flow log file's line format.
int cmd_flows(const Globals& g, bool follow, uint32_t recent, const std::string& output) {
  v1::WatchFlowsRequest req;
  req.set_follow(follow);
  req.set_recent(recent);
  Status s = g.client().watch_flows(req, [&](const v1::WatchFlowsResponse& msg) {
    if (msg.lost())
      std::cerr << "wacctl: " << msg.lost() << " flow records lost here (read more slowly than they came)"
                << std::endl;
    if (!msg.has_record()) return true;
    agent::FlowRecord record;
    std::string why;
    if (!from_proto(msg.record(), record, why)) {
      std::cerr << "wacctl: skipping a flow record: " << why << std::endl;
      return true;
    }
    std::cout << (output == "json" ? agent::to_json_line(record) : agent::to_text_line(record)) << std::endl;
    return bool(std::cout);  // stop when the reader of our output went away
  });
  if (!s) return fail(s.message());
  return 0;
}

int cmd_reload(const Globals& g) {
  v1::ReloadResponse report;
  if (Status s = g.client().reload(report); !s) return fail(s.message());
  std::cout << format_reload(report);
  return report.failed().empty() ? 0 : kExitFailure;
}

int cmd_get(const Globals& g, const std::string& kind_text, const std::string& name, std::string ns,
            bool all_namespaces, const std::string& output) {
  const KindInfo* kind = kind_by_alias(kind_text);
  if (!kind) return fail("unknown resource kind " + kind_text);
  // The table of egress gateways shows what this node made of them; -o
  // yaml/json the resources as applied.
  if (kind->kind == model::Kind::EgressGateway && output == "table") return cmd_egress(g, name, "table");
  if (!kind->namespaced || all_namespaces) ns.clear();
  else if (ns.empty()) ns = "default";
  if (!name.empty() && all_namespaces && kind->namespaced) return fail("a name cannot be combined with -A");

  std::vector<v1::Resource> found;
  Client client = g.client();
  Status s = name.empty() ? client.list(kind->name, ns, found) : client.get(kind->name, ns, name, found);
  if (!s) return fail(s.message());
  if (output == "yaml") std::cout << to_yaml_text(found);
  else if (output == "json") std::cout << to_json_text(found);
  else if (found.empty()) std::cerr << "No resources found\n";
  else std::cout << format_table(found, all_namespaces);
  return 0;
}

int cmd_status(const Globals& g, const std::string& output) {
  v1::StatusResponse status;
  if (Status s = g.client().status(status); !s) return fail(s.message());
  if (output == "json") {
    std::string text;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(status, &text, opts);
    std::cout << text;
  } else {
    std::cout << format_status(status);
  }
  return status.last_sync_ok() ? 0 : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wacctl: manage wac (Workload Access Controls) resources on this node"};
  app.require_subcommand(1);
  Globals g;
  if (const char* env = std::getenv("WAC_SOCKET"); env && *env) g.socket = env;
  app.add_option("--socket", g.socket, "wacd's API socket (env WAC_SOCKET)")->capture_default_str();
  app.add_option("--timeout", g.timeout_seconds, "seconds to wait for wacd")->capture_default_str()->check(CLI::PositiveNumber);
  if (const char* env = std::getenv("WAC_SERVER"); env && *env) g.server = env;
  app.add_option("--server", g.server, "wacd's TCP listener HOST:PORT instead of the socket (env WAC_SERVER)");
  app.add_option("--tls-ca", g.tls.ca_file, "CA certificate (PEM) that signed wacd's certificate, for --server");
  app.add_option("--tls-cert", g.tls.cert_file, "client certificate (PEM) for --server");
  app.add_option("--tls-key", g.tls.key_file, "client private key (PEM) for --server");
  app.add_option("--tls-server-name", g.tls.server_name, "name expected in wacd's certificate (default: HOST)");
  app.add_flag("--insecure", g.tls.insecure, "plaintext TCP, for a listener with listen.insecure: true");

  std::vector<std::string> files, args;
  std::string ns, kind, name, output = "table";
  bool all_namespaces = false;

  auto* apply = app.add_subcommand("apply", "create or update the resources in YAML files");
  apply->add_option("-f,--filename", files, "YAML file, or - for stdin (repeatable)")->required();
  apply->add_option("-n,--namespace", ns, "namespace for namespaced resources that name none (default: default)");

  auto* del = app.add_subcommand("delete", "delete the resources named in YAML files, or one by kind and name");
  del->add_option("-f,--filename", files, "YAML file, or - for stdin (repeatable)");
  del->add_option("args", args, "KIND NAME");
  del->add_option("-n,--namespace", ns, "namespace (default: default)");

  uint64_t revision = 0;
  auto* replace = app.add_subcommand("replace", "make the resources in YAML files the complete set (deletes the rest)");
  replace->add_option("-f,--filename", files, "YAML file, or - for stdin (repeatable)")->required();
  replace->add_option("-n,--namespace", ns, "namespace for namespaced resources that name none (default: default)");
  replace->add_option("--revision", revision, "snapshot revision; one lower than wacd's last is refused")->required();

  auto* get = app.add_subcommand("get", "show resources");
  get->add_option("kind", kind,
                  "networkpolicy (netpol, np), globalnetworkpolicy (gnp), networkset, globalnetworkset, "
                  "workloadendpoint (wep), namespace (ns), k8snetworkpolicy (knp), securitygroup (sg), egressgateway (egress)")
      ->required();
  get->add_option("name", name, "one resource by name");
  auto* ns_opt = get->add_option("-n,--namespace", ns, "namespace (default: default)");
  get->add_flag("-A,--all-namespaces", all_namespaces, "every namespace")->excludes(ns_opt);
  get->add_option("-o,--output", output, "table, yaml or json")
      ->check(CLI::IsMember({"table", "yaml", "json"}))
      ->capture_default_str();

  auto* status = app.add_subcommand("status", "show the agent's state");
  std::string status_output = "text";
  status->add_option("-o,--output", status_output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* egress = app.add_subcommand("egress", "show egress gateways: state, routing table, local pods using them");
  std::string egress_name, egress_output = "text";
  egress->add_option("name", egress_name, "one EgressGateway by name");
  egress->add_option("-o,--output", egress_output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* explain = app.add_subcommand("explain", "the policies, rules and nftables chains that apply to a pod, in order");
  std::string explain_pod, explain_output = "text";
  bool explain_nft = false;
  explain->add_option("pod", explain_pod, "pod name (or WorkloadEndpoint name) on this node")->required();
  explain->add_option("-n,--namespace", ns, "namespace (default: default)");
  explain->add_flag("--nft", explain_nft, "also print each policy chain's nftables rules");
  explain->add_option("-o,--output", explain_output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* reload = app.add_subcommand("reload", "make wacd re-read its configuration file (as SIGHUP does)");
  auto* dns = app.add_subcommand("dns", "learned DNS names, their addresses and remaining TTLs, and the domain "
                                       "patterns and nftables sets they feed");
  std::string dns_name, dns_output = "text";
  dns->add_option("name", dns_name, "only names containing this text");
  dns->add_option("-o,--output", dns_output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* flows = app.add_subcommand("flows", "flow log records: connections denied (and, with flowLogs.logAllowed, "
                                           "allowed), the pod, and the policy rule that decided");
  bool flows_follow = false;
  uint32_t flows_recent = 20;
  std::string flows_output = "text";
  flows->add_flag("-f,--follow", flows_follow, "keep printing new records as they are logged (until interrupted)");
  flows->add_option("--recent", flows_recent, "how many of the latest records to print first (wacd keeps 1000)")
      ->capture_default_str();
  flows->add_option("-o,--output", flows_output, "text, or json (one object per line, as in the flow log file)")
      ->check(CLI::IsMember({"text", "json"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (Status s = check_tcp_flags(g); !s) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  if (!g.server.empty())
    if (Status s = make_tcp_channel(g.server, g.tls, g.channel); !s) return fail(s.message());
  if (apply->parsed()) return cmd_apply(g, files, ns);
  if (del->parsed()) return cmd_delete(g, files, args, ns);
  if (replace->parsed()) return cmd_replace(g, files, ns, revision);
  if (get->parsed()) return cmd_get(g, kind, name, ns, all_namespaces, output);
  if (status->parsed()) return cmd_status(g, status_output);
  if (egress->parsed()) return cmd_egress(g, egress_name, egress_output);
  if (explain->parsed()) return cmd_explain(g, explain_pod, ns, explain_nft, explain_output);
  if (reload->parsed()) return cmd_reload(g);
  if (dns->parsed()) return cmd_dns(g, dns_name, dns_output);
  if (flows->parsed()) return cmd_flows(g, flows_follow, flows_recent, flows_output);
  return kExitUsage;
}

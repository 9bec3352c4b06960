#include "api/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "api/server.h"

namespace wac::api {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// An encrypted key must not make OpenSSL prompt on the terminal of a daemon.
int no_passphrase(char*, int, int, void*) { return 0; }

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not valid PEM";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Status read_file(const std::string& key, const std::string& path, std::string& out) {
  if (path.empty()) return Status::Error(key + ": not set");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(key + ": cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  out = buf.str();
  return Status::Ok();
}

Bio memory_bio(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), int(pem.size()))); }

Status parse_certificates(const std::string& key, const std::string& path, const std::string& pem,
                          std::vector<Cert>& out) {
  Bio bio = memory_bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) return Status::Error(key + ": " + path + " contains no PEM certificate");
  return Status::Ok();
}

Status parse_key(const std::string& key, const std::string& path, const std::string& pem, Key& out) {
  Bio bio = memory_bio(pem);
  out.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!out) return Status::Error(key + ": " + path + " holds no unencrypted PEM private key (" + openssl_error() + ")");
  return Status::Ok();
}

void warn_if_expired(const std::string& key, const std::string& path, X509* cert) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    spdlog::warn("{}: the certificate in {} has expired: peers will refuse it", key, path);
  else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    spdlog::warn("{}: the certificate in {} is not valid yet", key, path);
}

void warn_if_readable_by_others(const std::string& key, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    spdlog::warn("{}: {} is readable by group or others; it should be 0600 (or 0400)", key, path);
}

struct KeyPair {
  std::string cert_pem, key_pem;
};

// A certificate chain and the key of its first certificate, checked to match.
Status load_key_pair(const std::string& cert_key, const std::string& cert_path, const std::string& key_key,
                     const std::string& key_path, KeyPair& out) {
  if (Status s = read_file(cert_key, cert_path, out.cert_pem); !s) return s;
  if (Status s = read_file(key_key, key_path, out.key_pem); !s) return s;
  std::vector<Cert> chain;
  if (Status s = parse_certificates(cert_key, cert_path, out.cert_pem, chain); !s) return s;
  Key key;
  if (Status s = parse_key(key_key, key_path, out.key_pem, key); !s) return s;
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::Error(key_key + ": " + key_path + " is not the key of the certificate in " + cert_path + " (" +
                         cert_key + ")");
  }
  warn_if_expired(cert_key, cert_path, chain.front().get());
  return Status::Ok();
}

Status load_ca(const std::string& key, const std::string& path, std::string& pem) {
  if (Status s = read_file(key, path, pem); !s) return s;
  std::vector<Cert> certs;
  return parse_certificates(key, path, pem, certs);
}

std::vector<std::string> property_values(const grpc::AuthContext& ctx, const char* name) {
  std::vector<std::string> out;
  for (const auto& v : ctx.FindPropertyValues(name)) out.emplace_back(v.data(), v.size());
  return out;
}

}  // namespace

bool subject_allowed(const std::vector<std::string>& allowed, const std::vector<std::string>& common_names,
                     const std::string& subject) {
  if (allowed.empty()) return true;
  for (const auto& a : allowed) {
    if (!subject.empty() && a == subject) return true;
    if (std::find(common_names.begin(), common_names.end(), a) != common_names.end()) return true;
  }
  return false;
}

void SubjectFilter::set_allowed(std::vector<std::string> allowed) {
  std::lock_guard lock(mu_);
  allowed_ = std::move(allowed);
}

std::vector<std::string> SubjectFilter::allowed() const {
  std::lock_guard lock(mu_);
  return allowed_;
}

grpc::Status SubjectFilter::Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                                    OutputMetadata*) {
  std::vector<std::string> names = property_values(*context, GRPC_X509_CN_PROPERTY_NAME);
  std::vector<std::string> subjects = property_values(*context, GRPC_X509_SUBJECT_PROPERTY_NAME);
  std::string subject = subjects.empty() ? "" : subjects.front();
  if (subject_allowed(allowed(), names, subject)) return grpc::Status::OK;
  spdlog::warn("api: refused a call from client certificate \"{}\": not in listen.allowedSubjects", subject);
  return {grpc::StatusCode::PERMISSION_DENIED,
          "client certificate \"" + subject + "\" is not in wacd's listen.allowedSubjects"};
}

Status make_server_credentials(const TcpOptions& o, std::shared_ptr<SubjectFilter> filter,
                               std::shared_ptr<grpc::ServerCredentials>& out) {
  if (o.insecure) {
    out = grpc::InsecureServerCredentials();
    return Status::Ok();
  }
  KeyPair pair;
  if (Status s = load_key_pair("listen.tlsCert", o.cert_file, "listen.tlsKey", o.key_file, pair); !s) return s;
  warn_if_readable_by_others("listen.tlsKey", o.key_file);
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (Status s = load_ca("listen.clientCA", o.client_ca_file, ssl.pem_root_certs); !s) return s;
  ssl.pem_key_cert_pairs.push_back({pair.key_pem, pair.cert_pem});
  out = grpc::SslServerCredentials(ssl);
  out->SetAuthMetadataProcessor(std::move(filter));
  return Status::Ok();
}

Status make_tcp_channel(const std::string& address, const ClientTlsOptions& o, std::shared_ptr<grpc::Channel>& out) {
  grpc::ChannelArguments args;
  ServerOptions defaults;
  args.SetMaxReceiveMessageSize(defaults.max_message_bytes);
  args.SetMaxSendMessageSize(defaults.max_message_bytes);
  if (o.insecure) {
    out = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    return Status::Ok();
  }
  grpc::SslCredentialsOptions ssl;
  if (Status s = load_ca("--tls-ca", o.ca_file, ssl.pem_root_certs); !s) return s;
  if (o.cert_file.empty() != o.key_file.empty())
    return Status::Error(o.cert_file.empty() ? "--tls-cert: needed with --tls-key" : "--tls-key: needed with --tls-cert");
  if (!o.cert_file.empty()) {
    KeyPair pair;
    if (Status s = load_key_pair("--tls-cert", o.cert_file, "--tls-key", o.key_file, pair); !s) return s;
    ssl.pem_cert_chain = pair.cert_pem;
    ssl.pem_private_key = pair.key_pem;
  }
  if (!o.server_name.empty()) args.SetSslTargetNameOverride(o.server_name);
  out = grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
  return Status::Ok();
}

}  // namespace wac::api

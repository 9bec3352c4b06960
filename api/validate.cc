#include "api/validate.h"

#include <cctype>
#include <cstdio>

namespace wac::api::check {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? : the name part of a label key,
// and a non-empty label value.
bool qualified_token(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string too_long(size_t size, size_t max) {
  return "must be no more than " + std::to_string(max) + " characters (is " + std::to_string(size) + ")";
}

}  // namespace

bool valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string quoted(std::string_view s, size_t max) {
  std::string out = "\"";
  size_t shown = std::min(s.size(), max);
  // Bytes that are not UTF-8 (or a sequence the cut splits) are escaped
  // too, so the message itself stays UTF-8.
  bool escape_high = !valid_utf8(s.substr(0, shown));
  for (size_t i = 0; i < shown; ++i) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && escape_high)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);  // UTF-8 sequences pass through
    }
  }
  if (shown < s.size()) out += "...\" (" + std::to_string(s.size()) + " bytes)";
  else out += '"';
  return out;
}

std::string dns1123_label(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxLabelLength) return too_long(s.size(), kMaxLabelLength);
  for (char c : s)
    if (!lower_alnum(c) && c != '-')
      return "must consist of lower case alphanumeric characters or '-' (DNS-1123 label)";
  if (s.front() == '-' || s.back() == '-') return "must start and end with an alphanumeric character";
  return {};
}

std::string dns1123_subdomain(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxNameLength) return too_long(s.size(), kMaxNameLength);
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ok = !part.empty() && lower_alnum(part.front()) && lower_alnum(part.back());
    for (char c : part) ok = ok && (lower_alnum(c) || c == '-');
    if (!ok)
      return "must consist of lower case alphanumeric characters, '-' or '.', and start and end with an "
             "alphanumeric character (DNS-1123 subdomain)";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {};
}

std::string label_key(std::string_view s) {
  if (s.empty()) return "must not be empty";
  std::string_view name = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (std::string why = dns1123_subdomain(prefix); !why.empty()) return "prefix " + why;
  }
  if (name.empty()) return "name part must not be empty";
  if (name.size() > kMaxLabelLength) return "name part " + too_long(name.size(), kMaxLabelLength);
  if (!qualified_token(name))
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and start and end with an "
           "alphanumeric character";
  return {};
}

std::string label_value(std::string_view s) {
  if (s.empty()) return {};
  if (s.size() > kMaxLabelLength) return too_long(s.size(), kMaxLabelLength);
  if (!qualified_token(s))
    return "must be empty or consist of alphanumeric characters, '-', '_' or '.', and start and end with an "
           "alphanumeric character";
  return {};
}

std::string port_name(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxPortNameLength) return too_long(s.size(), kMaxPortNameLength);
  bool letter = false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return "must contain only lower case alphanumeric characters or '-'";
    letter |= c >= 'a' && c <= 'z';
  }
  if (!letter) return "must contain at least one letter";
  if (s.front() == '-' || s.back() == '-') return "must not begin or end with '-'";
  if (s.find("--") != std::string_view::npos) return "must not contain consecutive '-'";
  return {};
}

std::string interface_name(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxInterfaceNameLength) return too_long(s.size(), kMaxInterfaceNameLength);
  for (char c : s)
    if (!alnum(c) && c != '_' && c != '.' && c != '-')
      return "must consist of alphanumeric characters, '_', '.' or '-'";
  if (s == "." || s == "..") return "is not a valid interface name";
  return {};
}

std::string container_id(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > 255) return too_long(s.size(), 255);
  if (!alnum(s.front()) || !alnum(s.back())) return "must start and end with an alphanumeric character";
  for (char c : s)
    if (!alnum(c) && c != '-') return "must consist of alphanumeric characters or '-'";
  return {};
}

std::string mac_address(std::string_view s) {
  // Six colon- or dash-separated hex pairs, as Go's net.ParseMAC accepts for EUI-48.
  if (s.size() != 17) return "must be a MAC address like 0a:58:0a:f4:01:05";
  char sep = s[2];
  if (sep != ':' && sep != '-') return "must be a MAC address like 0a:58:0a:f4:01:05";
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = i % 3 == 2 ? s[i] == sep : std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
    if (!ok) return "must be a MAC address like 0a:58:0a:f4:01:05";
  }
  return {};
}

std::string security_group_id(std::string_view s) {
  constexpr std::string_view prefix = "sg-";
  std::string_view hex = s.starts_with(prefix) ? s.substr(prefix.size()) : std::string_view();
  bool ok = hex.size() >= 8 && hex.size() <= 17 &&
            hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  return ok ? std::string() : "expected \"sg-\" followed by 8 to 17 lower-case hex digits";
}

std::optional<uint32_t> parse_decimal(std::string_view s, uint32_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  if (s.size() > 1 && s.front() == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > max) return std::nullopt;
  return uint32_t(v);
}

namespace {
struct ProtoName {
  const char* name;
  uint8_t number;
};
constexpr ProtoName kProtocols[] = {
    {"TCP", kProtoTCP},   {"UDP", kProtoUDP},   {"ICMP", kProtoICMP},
    {"ICMPv6", kProtoICMPv6}, {"SCTP", kProtoSCTP}, {"UDPLite", kProtoUDPLite},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
}  // namespace

std::optional<uint8_t> protocol_number(std::string_view s) {
  for (const auto& p : kProtocols)
    if (iequals(s, p.name)) return p.number;
  auto n = parse_decimal(s, 255);
  if (!n || *n == 0) return std::nullopt;
  return uint8_t(*n);
}

std::string protocol_error(std::string_view s) {
  return "invalid protocol " + quoted(s) + " (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255)";
}

bool protocol_has_ports(uint8_t p) {
  return p == kProtoTCP || p == kProtoUDP || p == kProtoSCTP || p == kProtoUDPLite;
}

const char* protocol_display(uint8_t proto) {
  for (const auto& p : kProtocols)
    if (p.number == proto) return p.name;
  return nullptr;
}

std::string parse_port(std::string_view s, model::PortRange& out) {
  out = {};
  if (s.empty()) return "empty port";
  bool numeric_start = s.front() >= '0' && s.front() <= '9';
  size_t colon = s.find(':');
  if (colon == std::string_view::npos && !numeric_start) {
    if (std::string why = port_name(s); !why.empty()) return "invalid named port " + quoted(s) + ": " + why;
    out.name = std::string(s);
    return {};
  }
  std::string_view first_text = s.substr(0, colon);
  std::string_view last_text = colon == std::string_view::npos ? first_text : s.substr(colon + 1);
  auto first = parse_decimal(first_text, 65535);
  auto last = parse_decimal(last_text, 65535);
  if (!first || !last || *first == 0 || *last == 0)
    return "invalid port " + quoted(s) + " (expected a port 1-65535, a range \"first:last\" or a port name)";
  if (*first > *last) return "invalid port range " + quoted(s) + ": first port is greater than last";
  out.first = uint16_t(*first);
  out.last = uint16_t(*last);
  return {};
}

}  // namespace wac::api::check

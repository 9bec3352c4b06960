// Field-level checks shared by the translators: Kubernetes name and label
// rules, Calico port and protocol syntax, UTF-8.  Each check returns an
// empty string when the value is valid, else the reason (without the field
// path, which the caller knows).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/model.h"

namespace wac::api::check {

inline constexpr size_t kMaxNameLength = 253;        // DNS-1123 subdomain
inline constexpr size_t kMaxLabelLength = 63;        // DNS-1123 label, label name / value
inline constexpr size_t kMaxPortNameLength = 15;     // IANA service name
inline constexpr size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ - 1

bool valid_utf8(std::string_view s);

// For messages: double-quoted, non-printable bytes escaped, long values cut
// ("\"abc...\" (300 bytes)") so hostile input cannot flood logs.
std::string quoted(std::string_view s, size_t max = 64);

std::string dns1123_label(std::string_view s);      // namespaces
std::string dns1123_subdomain(std::string_view s);  // resource names
std::string label_key(std::string_view s);          // [prefix/]name, as Kubernetes
std::string label_value(std::string_view s);
std::string port_name(std::string_view s);          // IANA_SVC_NAME, as Kubernetes
std::string interface_name(std::string_view s);     // as Calico: [a-zA-Z0-9_.-]{1,15}
std::string container_id(std::string_view s);
std::string mac_address(std::string_view s);

// Protocol as Calico writes it: a name (TCP, UDP, ICMP, ICMPv6, SCTP,
// UDPLite; any case) or a number 1-255.
std::optional<uint8_t> protocol_number(std::string_view s);
std::string protocol_error(std::string_view s);
bool protocol_has_ports(uint8_t proto);  // TCP, UDP, SCTP, UDPLite
const char* protocol_display(uint8_t proto);  // "TCP", ... or nullptr for other numbers

inline constexpr uint8_t kProtoICMP = 1;
inline constexpr uint8_t kProtoTCP = 6;
inline constexpr uint8_t kProtoUDP = 17;
inline constexpr uint8_t kProtoICMPv6 = 58;
inline constexpr uint8_t kProtoSCTP = 132;
inline constexpr uint8_t kProtoUDPLite = 136;

// Calico port syntax: "80", "1000:2000" (first <= last, 1-65535), or a
// named port ("http"). Strict: no spaces, signs or leading zeros.
std::string parse_port(std::string_view s, model::PortRange& out);

// AWS security group ID: "sg-" and 8 to 17 lower-case hex digits
// ("sg-0123456789abcdef0").
std::string security_group_id(std::string_view s);

// Whole decimal number without sign or leading zeros, <= max.
std::optional<uint32_t> parse_decimal(std::string_view s, uint32_t max);

}  // namespace wac::api::check

// A small success-or-error value for calls into the kernel and parsers.
#pragma once
#include <string>
#include <utility>

namespace wac {

class Status {
 public:
  Status() = default;
  static Status Ok() { return {}; }
  static Status Error(std::string message, int errno_value = 0) {
    Status s;
    s.message_ = message.empty() ? "unknown error" : std::move(message);
    s.errno_ = errno_value;
    return s;
  }
  bool ok() const { return message_.empty(); }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }
  int errno_value() const { return errno_; }

 private:
  std::string message_;
  int errno_ = 0;
};

}  // namespace wac

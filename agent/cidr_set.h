// The CIDRs one selector set holds, from many contributors (endpoints,
// network sets), reduced to what the kernel can hold: an interval set rejects
// overlapping elements, so a CIDR inside another present CIDR is kept here but
// not programmed.  Removing the outer CIDR re-exposes the inner ones.
#pragma once
#include <bitset>
#include <map>
#include <string>

#include "agent/element_table.h"
#include "netlink/ip.h"

namespace wac::agent {

class CidrSet {
 public:
  explicit CidrSet(ElementTable& out) : out_(out) {}
  // Reference counted: the same CIDR from two contributors is one element.
  void add(const Cidr& c, const std::string& comment);
  void remove(const Cidr& c);
  size_t contributions() const { return entries_.size(); }

 private:
  struct Entry {
    int refs = 0;
    bool visible = false;
    std::string comment;
  };
  bool covered(const Cidr& c) const;  // by a strictly shorter present prefix
  void show(const Cidr& c, Entry& e);
  void hide(const Cidr& c, Entry& e);
  template <class F>
  void for_each_inside(const Cidr& c, F&& f);

  ElementTable& out_;
  std::map<Cidr, Entry> entries_;
  std::map<uint8_t, int> prefix_lengths_;  // prefix length -> entries using it
};

}  // namespace wac::agent

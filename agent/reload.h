// Configuration reload (SIGHUP, `wacctl reload`): reads the config file
// again (flags still override it), applies the keys wacd can change while
// running, and reports the others as needing a restart, without changing
// them.  Keys are compared by their YAML form (Config::to_yaml), so a knob
// added to Config later is reported as "needs restart" until someone
// registers a way to apply it at runtime.
#pragma once
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/config.h"
#include "netlink/status.h"

namespace wac::agent {

struct ReloadReport {
  Status status;                           // the file could not be used: nothing changed
  std::vector<std::string> applied;        // keys changed and now in effect
  std::vector<std::string> needs_restart;  // keys that differ from the running ones; kept until restart
  std::vector<std::string> failed;         // "key: why": could not be applied; the old value stays
};

// Every leaf of a config as "dotted.key" -> its YAML text (lists are one leaf).
std::map<std::string, std::string> flatten(const Config& c);

class Reloader {
 public:
  // Reads the file and applies the command-line flags over it.
  using Loader = std::function<Status(Config&)>;
  // Puts one key's new value into effect; an error keeps the old value.
  using Applier = std::function<Status(const Config&)>;

  Reloader(const Config& running, Loader load);
  // Makes `key` ("logLevel", "listen.allowedSubjects") changeable at runtime.
  void on(const std::string& key, Applier apply);
  // Any thread; one reload at a time.  Logs what it did.
  ReloadReport reload();

 private:
  std::mutex mu_;
  Loader load_;
  std::map<std::string, Applier> appliers_;
  std::map<std::string, std::string> effective_;  // what is in effect, by key
};

}  // namespace wac::agent

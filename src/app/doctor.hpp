#pragma once
// `muster doctor`: what this host gives muster's jobs, said so that a user
// can tell the strong mode from the weaker one and how to get the strong one.

#include <string>

namespace muster::app {

/// How jobs started on this host are contained (see exec/cgroup.hpp).
struct Containment {
  bool cgroup = false;
  std::string where; ///< the cgroup muster's subtrees are made in
  std::string why;   ///< why the weaker mode is in force
};

/// A look without side effects; an agent tries for real, and falls back
/// to the weaker mode if the cgroup cannot be used after all.
Containment containment();

} // namespace muster::app

#include "app/doctor.hpp"

#include "exec/cgroup.hpp"

namespace muster::app {

Containment containment() {
  const exec::ContainmentInfo info = exec::detect_containment();
  return Containment{info.mode == exec::Containment::cgroup, info.cgroup, info.why};
}

} // namespace muster::app

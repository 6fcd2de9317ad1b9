#include "core/run.hpp"

namespace muster::core {

int64_t Counts::total() const {
  int64_t n = 0;
  for (auto v : by_state) {
    n += v;
  }
  return n;
}

int64_t Counts::finished() const {
  return (*this)[JobState::succeeded] + (*this)[JobState::failed] +
         (*this)[JobState::skipped] + (*this)[JobState::cancelled];
}

} // namespace muster::core

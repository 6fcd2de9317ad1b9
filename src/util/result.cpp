#include "util/result.hpp"

namespace muster::util {

const char* to_string(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::bad_input:
    return "bad_input";
  case ErrorKind::not_found:
    return "not_found";
  case ErrorKind::busy:
    return "busy";
  case ErrorKind::store_unavailable:
    return "store_unavailable";
  case ErrorKind::disk_full:
    return "disk_full";
  case ErrorKind::corrupt:
    return "corrupt";
  case ErrorKind::internal:
    return "internal";
  }
  return "internal";
}

} // namespace muster::util

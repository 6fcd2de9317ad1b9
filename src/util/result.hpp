#pragma once
// A value or an error: the error style of the lower layers.

#include <string>
#include <utility>
#include <variant>

namespace muster::util {

/// What kind of failure an error is. Callers decide by kind, never by the
/// message's text; the CLI maps each kind to one exit code (cli/exit_code.hpp).
enum class ErrorKind {
  bad_input,         ///< flags, input, config or a template are wrong: fix them and retry
  not_found,         ///< a run, job or file that was named does not exist
  busy,              ///< another live holder has what was asked for (a run, a lock)
  store_unavailable, ///< the store cannot be opened or written: read-only, locked, missing
  disk_full,         ///< the filesystem under the store is full
  corrupt,           ///< the store's file is damaged or not a store
  internal,          ///< a system call or a library failed in a way no user input explains
};

/// The kind's name, as scripts see it in `--json` errors ("bad_input", ...).
const char* to_string(ErrorKind kind);

/// An error that says what was being done, on what, and why it failed.
/// Most errors below the store are about the user's input, so that is the
/// default kind; the store and the system layers set theirs.
struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::bad_input;
};

/// Holds either a T or an Error. Modelled on std::expected (C++23).
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : m_v(std::move(value)) {}
  Result(Error error) : m_v(std::move(error)) {}

  explicit operator bool() const { return m_v.index() == 0; }
  bool ok() const { return m_v.index() == 0; }
  T& operator*() { return std::get<0>(m_v); }
  const T& operator*() const { return std::get<0>(m_v); }
  T* operator->() { return &std::get<0>(m_v); }
  const T* operator->() const { return &std::get<0>(m_v); }
  T& value() { return std::get<0>(m_v); }
  const Error& error() const { return std::get<1>(m_v); }

private:
  std::variant<T, Error> m_v;
};

/// Result of an operation that yields nothing but may fail.
template <> class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)), m_failed(true) {}
  explicit operator bool() const { return !m_failed; }
  bool ok() const { return !m_failed; }
  const Error& error() const { return m_error; }

private:
  Error m_error;
  bool m_failed = false;
};

} // namespace muster::util

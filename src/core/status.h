// status.h — errors as values.
//
// Status carries a code and a message; Result<T> carries a value or a non-ok Status. Codes are
// chosen by what the caller should do next, not by where the error came from:
//   kInvalidArgument     the input is wrong; retrying the same input fails the same way.
//   kNotFound            the thing asked for does not exist.
//   kAlreadyExists       a conflicting thing exists (e.g. same intake id, other body).
//   kFailedPrecondition  stop until an operator acts (store held by another process, failed intake).
//   kUnavailable         transient: retry with backoff (store busy, timeout, 5xx, connection error).
//   kCorruption          stored data is damaged: halt and run `callrec check`.
//   kInternal            a bug or an impossible state.
// Exceptions never cross a module boundary: code that meets one (CLI11, libpq, std::stoll)
// turns it into a Status in the same file.
//
// Thread-safety: values; copy freely.
//
//   Result<int> ParsePort(std::string_view s);
//   CALLREC_ASSIGN_OR_RETURN(int port, ParsePort(text));
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace callrec::core {

// Stored nowhere on disk; the numbers only appear in logs.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kAlreadyExists = 3,
  kFailedPrecondition = 4,
  kUnavailable = 5,
  kCorruption = 6,
  kInternal = 7,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status final {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsUnavailable() const { return code_ == StatusCode::kUnavailable; }

  // "UNAVAILABLE: store busy"; "OK" when ok.
  std::string ToString() const;
  // Drops a Status on purpose, where failing is acceptable and said so at the call site.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result needs a value or a non-ok Status");
    if (status_.ok()) status_ = Status::Internal("Result built from an ok Status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // Requires: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace callrec::core

#define CALLREC_CONCAT_INNER_(a, b) a##b
#define CALLREC_CONCAT_(a, b) CALLREC_CONCAT_INNER_(a, b)

#define CALLREC_RETURN_IF_ERROR(expr)               \
  do {                                              \
    ::callrec::core::Status _callrec_st = (expr);   \
    if (!_callrec_st.ok()) return _callrec_st;      \
  } while (0)

#define CALLREC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// CALLREC_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status when MakeX() failed.
#define CALLREC_ASSIGN_OR_RETURN(lhs, expr) \
  CALLREC_ASSIGN_OR_RETURN_IMPL_(CALLREC_CONCAT_(_callrec_result_, __LINE__), lhs, expr)

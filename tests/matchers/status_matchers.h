// status_matchers.h — GoogleTest assertions for core::Status and core::Result<T> that say why
// they failed (after Abseil's status_matchers.h).
//
//   ASSERT_OK(store->Append(e));              // fails with "... is INVALID_ARGUMENT: bad phone"
//   EXPECT_OK(result);                        // a Result<T>: its status
//   EXPECT_THAT(r, StatusIs(StatusCode::kCorruption));
//   EXPECT_THAT(r, IsOkAndHolds(42));         // a Result<T> whose value matches
//
// A bare ASSERT_TRUE(x.ok()) prints only "false"; these print the code and the message.
// Thread-safety: test code, single-threaded use.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "core/status.h"

namespace callrec::core {
// Lets GoogleTest print a Status or a Result in any failure message.
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
template <typename T>
void PrintTo(const Result<T>& r, std::ostream* os) {
  *os << (r.ok() ? std::string("OK (with a value)") : r.status().ToString());
}
}  // namespace callrec::core

namespace callrec::testing {

inline const core::Status& StatusOf(const core::Status& s) { return s; }
template <typename T>
const core::Status& StatusOf(const core::Result<T>& r) {
  return r.status();
}
template <typename T>
concept HasStatus = requires(const T& v) { StatusOf(v); };

// For ASSERT_OK / EXPECT_OK: success, or the expression and its status. Other result types with
// ok() (the clients' ApiResult, DownloadResult, ...) say only "is not ok": add their detail with <<.
template <typename T>
::testing::AssertionResult IsOkStatus(const char* expr, const T& value) {
  if constexpr (HasStatus<T>) {
    const core::Status& s = StatusOf(value);
    if (s.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << expr << " is " << s.ToString();
  } else {
    if (value.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << expr << " is not ok";
  }
}

MATCHER_P(StatusIs, code,
          std::string(negation ? "isn't" : "is") + " a status with code " +
              core::StatusCodeName(code)) {
  const core::Status& s = StatusOf(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P(IsOkAndHolds, inner,
          std::string(negation ? "isn't" : "is") + " OK with a value that matches " +
              ::testing::PrintToString(inner)) {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

}  // namespace callrec::testing

#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::callrec::testing::IsOkStatus, expr)
#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::callrec::testing::IsOkStatus, expr)

// test_postgres.h — a fresh database on the PostgreSQL that ./scripts/test starts.
//
// ./scripts/test exports CALLREC_TEST_POSTGRES_URL; without it these tests FAIL (never skip):
// CI must prove the PostgreSQL path, not silently pass without it.
#pragma once

#include <string>

#include "core/status.h"

namespace callrec::testing {

// Creates database "callrec_t_<random>" and returns its URL; kFailedPrecondition without
// CALLREC_TEST_POSTGRES_URL.
core::Result<std::string> CreateTestDatabase();

// Runs one SQL statement; returns the first column of the first row ("" when none).
core::Result<std::string> QueryOne(const std::string& url, const std::string& sql);

}  // namespace callrec::testing

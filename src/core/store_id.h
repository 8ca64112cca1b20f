// store_id.h — which store this is, for anything that must not mistake one store for another.
//
// 128 random bits in lowercase hex, made once by the first EventStore::Open() of a store and
// kept in its RocksDB `meta` column family under "store_id" (stores older than the key get theirs
// at their next Open()); never changed. A copy of the directory (a restored backup) keeps it; a
// reinstall or a second installation gets another. PostgreSQL's checkpoint names it (pg_sync.h).
//
// Declared apart from event_store.h so the widely included store interface stays as it is.
// Thread-safety: safe from any thread.
#pragma once

#include <string>

#include "core/event_store.h"

namespace callrec::core {

// The id of a store opened with EventStore::Open/OpenReader; "" for other EventStore
// implementations, and on a reader of a store no writer has opened since store ids exist.
std::string StoreId(const EventStore& store);

}  // namespace callrec::core

// replica_sync.h — how the reading commands work on a cluster (`--event-log postgres://...`).
//
// In cluster mode `--data-dir` is this machine's replica of the shared log (cluster/replica.h).
// SyncReplica brings it up to date — the shared log's new events copied in, then the projection
// (intakes, timeline index) applied as `serve` does — and closes it; the command then reads
// `--data-dir` exactly as in embedded mode. A missing directory becomes a new replica. A replica
// held by a running `serve` is left to it (that serve tails the shared log itself) with a note on
// stderr. With `event_log` empty it does nothing.
//
// Thread-safety: a plain function; one at a time per directory.
#pragma once

#include <string>

#include "core/status.h"

namespace callrec::tools {

core::Status SyncReplica(const std::string& data_dir, const std::string& event_log);

}  // namespace callrec::tools

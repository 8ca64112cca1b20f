// projection_progress.h — lets a reader wait until the projection reflects an event.
//
// ingest appends `intake.created` and answers with the intake as the projection shows it; it
// must not see a projection older than its own append. The projector implements this; ingest
// gets it by reference from src/tools, so neither module includes the other.
//
// Thread-safety: implementations must be callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace callrec::core {

class ProjectionProgress {
 public:
  virtual ~ProjectionProgress() = default;
  // True once every event with seq <= `seq` is applied to the derived data; false on timeout.
  virtual bool WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) = 0;
};

}  // namespace callrec::core

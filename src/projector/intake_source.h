// intake_source.h — what the actor (fetch_scheduler.h) needs of the projection.
//
// The actor keeps its own due-time index of open intakes: it reads them all once at start
// (OpenIntakes) and afterwards only the intakes the projector reports as changed (Get), so a
// wake costs O(due work + changed), never O(all intakes).
//
// Implemented by the running Projector; tests may implement it over a plain Projection or wrap
// it (to count calls).
//
// Thread-safety: implementations must be callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "projector/intake_state.h"

namespace callrec::projector {

class IntakeSource {
 public:
  virtual ~IntakeSource() = default;
  // Open intakes: those the actor may still act on (not failed; stored ones too while a delete
  // may be pending). Called once at start.
  virtual std::vector<IntakeState> OpenIntakes() = 0;
  // Current state of these ids; an id that is unknown or has nothing left to do is omitted.
  // (An implementation may also return an intake with nothing to do: the actor asks NextStep.)
  virtual std::vector<IntakeState> Get(const std::vector<std::string>& ids) = 0;
  // True once the projection reflects every event up to `seq`.
  virtual bool WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) = 0;
};

}  // namespace callrec::projector

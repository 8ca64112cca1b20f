// intake_source.h — what the actor (fetch_scheduler.h) needs of the projection.
//
// Implemented by the running Projector; tests may implement it over a plain Projection.
//
// Thread-safety: implementations must be callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "projector/intake_state.h"

namespace callrec::projector {

class IntakeSource {
 public:
  virtual ~IntakeSource() = default;
  // Copies of every intake the actor may still have work for (not failed; stored ones too, for
  // a pending delete): the candidates for a next step.
  virtual std::vector<IntakeState> PendingIntakes() = 0;
  // True once the projection reflects every event up to `seq`.
  virtual bool WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) = 0;
};

}  // namespace callrec::projector

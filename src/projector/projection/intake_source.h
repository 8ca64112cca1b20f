// intake_source.h — what the actor (step_scheduler.h) needs of the projection.
//
// The actor keeps its own due-time index of open intakes: it reads them all once at start
// (OpenIntakes) and afterwards only the intakes the projector reports as changed (Get), so a
// wake costs O(due work + changed), never O(all intakes). Open intakes are those the actor may
// still act on (projection.h): answered, recording, ended, fetched, stored with the Telnyx copy
// not yet deleted — fetched/stored only when its configuration acts on them.
//
// Implemented by the running Projector (from memory: the open set is resident); tests may
// implement it over a plain Projection.
//
// Thread-safety: implementations must be callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "projector/projection/intake_state.h"

namespace callrec::projector {

class IntakeSource {
 public:
  virtual ~IntakeSource() = default;
  // Open intakes: those the actor may still act on. Called once at start.
  virtual std::vector<IntakeState> OpenIntakes() = 0;
  // Current state of these ids; an id that is unknown or has nothing left to do is omitted.
  virtual std::vector<IntakeState> Get(const std::vector<std::string>& ids) = 0;
  // True once the projection reflects every event up to `seq`.
  virtual bool WaitApplied(uint64_t seq, std::chrono::milliseconds timeout) = 0;
};

}  // namespace callrec::projector

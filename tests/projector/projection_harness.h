// projection_harness.h — drives a Projection the way the projector does, for tests.
//
// Assigns seqs in application order (as the store would), and keeps the derived data written by
// Flush() in a std::map so tests can look at keys the way readers will.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/event_store.h"
#include "projector/event_builders.h"
#include "projector/projection/projection.h"

namespace callrec::testing {

using DerivedMap = std::map<std::string, std::string>;

inline void ApplyBatch(const core::DerivedBatch& batch, DerivedMap& kv) {
  for (const auto& op : batch.ops()) {
    if (op.is_delete) {
      kv.erase(op.key);
    } else {
      kv[op.key] = op.value;
    }
  }
}

inline std::string SeqSuffix(uint64_t seq) { return projector::SeqKey("", seq); }

class ProjectionHarness {
 public:
  // Appends `e` (assigning the next seq) and applies it; returns the changed intake ids.
  std::vector<std::string> Apply(core::Event e) {
    e.seq = ++seq_;
    return projection.Apply(e);
  }
  uint64_t seq() const { return seq_; }
  void Flush() { ApplyBatch(projection.Flush(), derived); }

  const projector::IntakeState& Get(const std::string& id) {
    const projector::IntakeState* s = projection.Find(id);
    if (s == nullptr) {
      ADD_FAILURE() << "no intake " << id;
      static const projector::IntakeState kNone;
      return kNone;
    }
    return *s;
  }
  bool HasKey(const std::string& key) const { return derived.count(key) > 0; }
  bool HasLink(const std::string& id, uint64_t seq) const {
    return HasKey("link/" + id + "/" + SeqSuffix(seq));
  }

  projector::Projection projection;
  DerivedMap derived;

 private:
  uint64_t seq_ = 0;
};

}  // namespace callrec::testing

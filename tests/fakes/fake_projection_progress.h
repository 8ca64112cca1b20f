// fake_projection_progress.h — stands in for the projector behind core::ProjectionProgress.
//
// WaitApplied(seq) applies the `intake.created` events up to `seq` the way the real projector's
// output looks to a reader: `intake/<id>` holds the intake JSON of README "HTTP" in state
// `created`, and `state/created/<id>` indexes it. set_stalled(true) makes it time out instead,
// like a projector that is behind.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <atomic>
#include <mutex>

#include "core/event_store.h"
#include "core/json.h"
#include "core/projection_progress.h"
#include "core/time_format.h"

namespace callrec::testing {

class FakeProjectionProgress final : public core::ProjectionProgress {
 public:
  explicit FakeProjectionProgress(core::EventStore& store) : store_(store) {}

  void set_stalled(bool stalled) { stalled_.store(stalled); }
  int calls() const { return calls_.load(); }

  bool WaitApplied(uint64_t seq, std::chrono::milliseconds) override {
    calls_.fetch_add(1);
    if (stalled_.load()) return false;
    std::lock_guard lock(mu_);
    core::DerivedBatch batch;
    core::Status st = store_.ForEachFrom(applied_ + 1, [&](const core::Event& e) {
      if (e.seq > seq) return false;
      if (e.type == "intake.created") Apply(e, batch);
      applied_ = e.seq;
      return true;
    });
    return st.ok() && store_.WriteDerived(batch).ok() && applied_ >= seq;
  }

  // The intake JSON this fake writes for an `intake.created` payload.
  static std::string IntakeJson(const core::Event& e) {
    simdjson::dom::parser parser;
    auto root = core::ParseJson(parser, e.payload);
    std::string created = core::FormatRfc3339Millis(e.recorded_at_ms);
    core::JsonWriter w;
    w.BeginObject();
    w.Key("id").String(*core::JsonString(*root, "/id"));
    w.Key("patient_phone").String(*core::JsonString(*root, "/patient_phone"));
    auto patient = core::JsonString(*root, "/patient_id");
    if (patient) w.Key("patient_id").String(*patient); else w.Key("patient_id").Null();
    w.Key("created_at").String(created);
    w.Key("updated_at").String(created);
    w.Key("state").String("created");
    w.Key("failure_reason").Null();
    w.Key("fetch_attempts").Int(0);
    w.Key("next_attempt_at").Null();
    w.Key("last_error").Null();
    w.Key("metadata").Raw(simdjson::minify((*root)["metadata"]));
    w.EndObject();
    return w.Take();
  }

 private:
  void Apply(const core::Event& e, core::DerivedBatch& batch) {
    batch.Put("intake/" + e.intake_id, IntakeJson(e));
    batch.Put("state/created/" + e.intake_id, "");
  }

  core::EventStore& store_;
  std::atomic<bool> stalled_{false};
  std::atomic<int> calls_{0};
  std::mutex mu_;
  uint64_t applied_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace callrec::testing

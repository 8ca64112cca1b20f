// fuzz_support.h — what the libFuzzer targets share: an in-memory EventStore (the targets fuzz
// parsers and the projection, not RocksDB, and must run thousands of inputs a second), an
// HttpTransport that answers with bytes the fuzzer chose, and a fixed clock.
//
// Only built with -DCALLREC_FUZZ=ON (clang, -fsanitize=fuzzer); see scripts/fuzz.
// Thread-safety: none; libFuzzer runs one input at a time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event_store.h"
#include "projector/clients/http_transport.h"

namespace callrec::fuzz {

// 2026-11-20T15:00:00Z, always.
class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::time_point{std::chrono::milliseconds(1795186800000)};
  }
  std::chrono::steady_clock::time_point SteadyNow() override { return {}; }
};

// Answers every request in turn with the next scripted reply; the last one repeats.
class ScriptTransport final : public projector::HttpTransport {
 public:
  void Add(int status, std::string body) { replies_.push_back({status, std::move(body)}); }
  core::Result<projector::HttpResponse> Send(const projector::HttpRequest& request) override {
    if (replies_.empty()) return core::Status::Unavailable("no answer");
    const auto& [status, body] = replies_[std::min(next_, replies_.size() - 1)];
    ++next_;
    ++sent_;
    projector::HttpResponse r;
    r.status = status;
    r.body = body;
    r.body_bytes = body.size();
    if (!request.body_to_file.empty() && status / 100 == 2) {
      FILE* f = std::fopen(request.body_to_file.c_str(), "wb");
      if (f) {
        std::fwrite(body.data(), 1, body.size(), f);
        std::fclose(f);
      }
      r.body.clear();
    }
    return r;
  }
  size_t sent() const { return sent_; }

 private:
  std::vector<std::pair<int, std::string>> replies_;
  size_t next_ = 0;
  size_t sent_ = 0;
};

// The EventStore contract in memory: contiguous seqs, idempotency keys, derived key space.
class MemoryStore final : public core::EventStore {
 public:
  core::Result<core::AppendResult> Append(core::Event event, core::Durability) override {
    if (!event.idempotency_key.empty()) {
      auto it = keys_.find(event.idempotency_key);
      if (it != keys_.end()) return core::AppendResult{it->second, true};
      keys_[event.idempotency_key] = events_.size() + 1;
    }
    event.seq = events_.size() + 1;
    if (event.recorded_at_ms == 0) event.recorded_at_ms = 1795186800000;
    events_.push_back(std::move(event));
    return core::AppendResult{events_.size(), false};
  }
  core::Result<std::vector<core::AppendResult>> AppendAll(std::vector<core::Event> events,
                                                          core::Durability d) override {
    std::vector<core::AppendResult> out;
    for (auto& e : events) out.push_back(*Append(std::move(e), d));
    return out;
  }
  uint64_t LastSeq() const override { return events_.size(); }
  uint64_t WaitForAppend(uint64_t, std::chrono::milliseconds) override { return LastSeq(); }
  core::Result<core::Event> Read(uint64_t seq) override {
    if (seq == 0 || seq > events_.size()) return core::Status::NotFound("no such seq");
    return events_[seq - 1];
  }
  core::Status ForEachFrom(uint64_t from, const std::function<bool(const core::Event&)>& visit) override {
    for (uint64_t s = std::max<uint64_t>(from, 1); s <= events_.size(); ++s)
      if (!visit(events_[s - 1])) break;
    return core::Status::Ok();
  }
  core::Status ForEachOfIntake(std::string_view id, const std::function<bool(const core::Event&)>& visit) override {
    for (const auto& e : events_)
      if (e.intake_id == id && !visit(e)) break;
    return core::Status::Ok();
  }
  core::Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key) override {
    auto it = keys_.find(std::string(key));
    if (it == keys_.end()) return std::optional<uint64_t>();
    return std::optional<uint64_t>(it->second);
  }
  core::Result<std::optional<std::string>> GetDerived(std::string_view key) override {
    auto it = derived_.find(std::string(key));
    if (it == derived_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  core::Status ScanDerived(std::string_view prefix,
                           const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return ScanDerivedFrom(prefix, prefix, visit);
  }
  core::Status ScanDerivedFrom(std::string_view prefix, std::string_view start,
                               const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (auto it = derived_.lower_bound(std::string(start)); it != derived_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      if (!visit(it->first, it->second)) break;
    }
    return core::Status::Ok();
  }
  core::Status WriteDerived(const core::DerivedBatch& batch) override {
    Apply(batch, derived_);
    return core::Status::Ok();
  }
  core::Result<std::unique_ptr<core::DerivedRebuild>> BeginRebuild() override {
    return core::Status::FailedPrecondition("not in memory");
  }
  core::Status CatchUp() override { return core::Status::Ok(); }
  core::Result<core::CheckReport> Check() override { return core::CheckReport{events_.size(), 0, ""}; }
  const std::string& dir() const override { return dir_; }
  core::Status CorruptRecordForTest(uint64_t, size_t) override { return core::Status::Ok(); }

  static void Apply(const core::DerivedBatch& batch, std::map<std::string, std::string>& into) {
    for (const auto& op : batch.ops()) {
      if (op.is_delete) into.erase(op.key);
      else into[op.key] = op.value;
    }
  }
  const std::map<std::string, std::string>& derived() const { return derived_; }
  // Forgets everything: long fuzz runs must not grow without bound.
  void Clear() {
    events_.clear();
    keys_.clear();
    derived_.clear();
  }

 private:
  std::vector<core::Event> events_;
  std::map<std::string, uint64_t> keys_;
  std::map<std::string, std::string> derived_;
  std::string dir_ = "(memory)";
};

// Stops the run with a message: a broken property is a crash libFuzzer keeps the input of.
[[noreturn]] inline void PropertyFailed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace callrec::fuzz

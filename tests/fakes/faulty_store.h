// faulty_store.h — a real EventStore whose writes can be made to fail, as LevelDB's tests wrap
// Env. Everything is forwarded to the wrapped store until set_fail_appends(true); then Append and
// AppendAll return kUnavailable ("disk write failed") and write nothing. set_fail_derived_reads
// does the same to GetDerived and the derived scans. derived_keys_read() counts the derived keys
// read (point reads plus keys visited by scans), so tests can say how much a reader touched.
//
// Thread-safety: as the wrapped store; the switch is atomic.
#pragma once

#include <atomic>

#include "core/event_store.h"

namespace callrec::testing {

class FaultyStore final : public core::EventStore {
 public:
  explicit FaultyStore(core::EventStore& inner) : inner_(inner) {}
  void set_fail_appends(bool fail) { fail_appends_.store(fail); }

  core::Result<core::AppendResult> Append(core::Event event, core::Durability d) override {
    if (fail_appends_.load()) return core::Status::Unavailable("injected: disk write failed");
    return inner_.Append(std::move(event), d);
  }
  core::Result<std::vector<core::AppendResult>> AppendAll(std::vector<core::Event> events,
                                                          core::Durability d) override {
    if (fail_appends_.load()) return core::Status::Unavailable("injected: disk write failed");
    return inner_.AppendAll(std::move(events), d);
  }
  uint64_t LastSeq() const override { return inner_.LastSeq(); }
  uint64_t WaitForAppend(uint64_t after, std::chrono::milliseconds t) override {
    return inner_.WaitForAppend(after, t);
  }
  core::Result<core::Event> Read(uint64_t seq) override { return inner_.Read(seq); }
  core::Status ForEachFrom(uint64_t from, const std::function<bool(const core::Event&)>& v) override {
    return inner_.ForEachFrom(from, v);
  }
  core::Status ForEachOfIntake(std::string_view id,
                               const std::function<bool(const core::Event&)>& v) override {
    return inner_.ForEachOfIntake(id, v);
  }
  core::Result<std::optional<uint64_t>> FindIdempotencyKey(std::string_view key) override {
    return inner_.FindIdempotencyKey(key);
  }
  core::Result<std::optional<std::string>> GetDerived(std::string_view key) override {
    if (fail_derived_reads_.load()) return core::Status::Unavailable("injected: derived read failed");
    ++derived_keys_read_;
    return inner_.GetDerived(key);
  }
  core::Status ScanDerived(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& v) override {
    return ScanDerivedFrom(prefix, prefix, v);
  }
  core::Status ScanDerivedFrom(
      std::string_view prefix, std::string_view start,
      const std::function<bool(std::string_view, std::string_view)>& v) override {
    if (fail_derived_reads_.load()) return core::Status::Unavailable("injected: derived scan failed");
    return inner_.ScanDerivedFrom(prefix, start, [&](std::string_view k, std::string_view value) {
      ++derived_keys_read_;
      return v(k, value);
    });
  }
  void set_fail_derived_reads(bool fail) { fail_derived_reads_.store(fail); }
  uint64_t derived_keys_read() const { return derived_keys_read_.load(); }
  core::Status WriteDerived(const core::DerivedBatch& b) override { return inner_.WriteDerived(b); }
  core::Result<std::unique_ptr<core::DerivedRebuild>> BeginRebuild() override {
    return inner_.BeginRebuild();
  }
  core::Status CatchUp() override { return inner_.CatchUp(); }
  core::Result<core::CheckReport> Check() override { return inner_.Check(); }
  const std::string& dir() const override { return inner_.dir(); }
  core::Status CorruptRecordForTest(uint64_t seq, size_t off) override {
    return inner_.CorruptRecordForTest(seq, off);
  }

 private:
  core::EventStore& inner_;
  std::atomic<bool> fail_appends_{false};
  std::atomic<bool> fail_derived_reads_{false};
  std::atomic<uint64_t> derived_keys_read_{0};
};

}  // namespace callrec::testing

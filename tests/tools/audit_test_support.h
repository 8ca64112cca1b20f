// audit_test_support.h — stores with a known history, for the replay and audit CLI tests.
//
// BuildStoryStore writes real events (the shapes of tests/projector/event_builders.h) into a
// real store and runs the real projector over them (Projector::CatchUp), so the derived data is
// exactly what `serve` would have left behind. WriteLifecycles appends many small, realistic
// intake lifecycles in batches without fsync, for the long-log tests.
#pragma once

#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/event_store.h"
#include "fakes/manual_clock.h"
#include "fakes/run_command.h"
#include "matchers/status_matchers.h"
#include "projector/event_builders.h"
#include "projector/projection/projector.h"

namespace callrec::testing {

using DerivedKeys = std::map<std::string, std::string>;

inline std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(s.substr(start, nl - start));
  return lines;
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs argv with stdin, stdout and stderr on a pseudo-terminal, as when a person types the
// command; returns everything it printed (terminal line discipline turns "\n" into "\r\n").
inline CommandResult RunInTerminal(const std::vector<std::string>& argv) {
  CommandResult result;
  int master = -1;
  struct winsize size = {40, 160, 0, 0};
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) return result;
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  char buf[4096];
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) result.out.append(buf, size_t(n));
  ::close(master);  // read() ends with EIO once the child has exited and closed its side
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Every derived key of the active generation, read as another process would (a reader).
inline DerivedKeys DerivedSnapshot(const std::string& dir) {
  DerivedKeys keys;
  auto reader = core::EventStore::OpenReader(dir);
  EXPECT_OK(reader);
  if (!reader.ok()) return keys;
  core::Status s = (*reader)->ScanDerived("", [&](std::string_view k, std::string_view v) {
    keys.emplace(std::string(k), std::string(v));
    return true;
  });
  EXPECT_OK(s);
  return keys;
}

// Runs the live projector over everything in the store, in small batches as a busy service
// would write them.
inline void ProjectAll(core::EventStore& store, size_t events_per_batch = 7) {
  auto projector = projector::Projector::Open(
      store, {}, projector::ProjectorOptions{.max_events_per_batch = events_per_batch});
  ASSERT_OK(projector);
  core::Status s = (*projector)->CatchUp();
  ASSERT_OK(s);
}

inline void AppendOrFail(core::EventStore& store, core::Event e) {
  auto r = store.Append(std::move(e));
  ASSERT_OK(r);
}

// The ids of BuildStoryStore's intakes.
inline const std::string kStored = "intake_stored_8f14";      // answered, recorded, stored
inline const std::string kFailed = "intake_failed_c9f0";      // record_start refused: failed
inline const std::string kWaiting = "intake_waiting_77aa";    // created, nothing happened yet
inline const std::string kCallId = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2a";
inline const std::string kRecordingId = "7b2f9c52-1d7e-4f1e-9a55-0c3e7a9d4b11";
inline const std::string kSha256 = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

// A recordings list result whose matcher saw `candidates` recordings and verified `verified`.
inline core::Event ListResult(int64_t at, const std::string& id, int candidates, int verified) {
  std::string env = Envelope("GET", "/v2/recordings?filter[call_leg_id]=leg-1", "ok", 200,
                             R"({"data":[],"meta":{"total_results":)" + std::to_string(candidates) + "}}");
  env.pop_back();
  env += ",\"candidates\":" + std::to_string(candidates) + ",\"verified\":" + std::to_string(verified) +
         ",\"verified_ids\":[" + (verified ? "\"" + kRecordingId + "\"" : "") + "]}";
  return MakeEvent("telnyx.recordings_list", core::source::kTelnyxApi, id, at, env);
}

// Three intakes with the stories above, one webhook for a number nobody expects, a duplicate
// delivery (absorbed by the store), and the projector run over it all.
inline void BuildStoryStore(const std::string& dir) {
  ManualClock clock;
  auto opened = core::EventStore::Open(dir, clock);
  ASSERT_OK(opened);
  core::EventStore& store = **opened;
  Call call;
  call.ccid = kCallId;
  call.to = "+15550123456";
  Call other;
  other.ccid = "v3:other-call-0001-Zq9P";
  other.leg = "leg-2";
  other.session = "session-2";
  other.to = "+15550199999";
  Call stranger;
  stranger.ccid = "v3:stranger-call-Kx71";
  stranger.leg = "leg-3";
  stranger.session = "session-3";
  stranger.to = "+15550100000";

  AppendOrFail(store, ServiceStarted(kT0));
  AppendOrFail(store, IntakeCreated(kT0 + 1 * kSec, kStored, "+15550123456", "p-17", R"({"clinic":"north"})"));
  AppendOrFail(store, IntakeCreated(kT0 + 2 * kSec, kFailed, "+15550199999"));
  AppendOrFail(store, IntakeCreated(kT0 + 3 * kSec, kWaiting, "+15550177777"));
  // Delivered before its call.answered: tied to the intake only once the answer binds the call.
  AppendOrFail(store, Webhook(kT0 + 4 * kSec, "call.initiated", "wh-init-1", call));
  AppendOrFail(store, Webhook(kT0 + 12 * kSec, "call.answered", "wh-ans-1", call));
  AppendOrFail(store, Webhook(kT0 + 12 * kSec, "call.answered", "wh-ans-1", call));  // duplicate
  AppendOrFail(store, RecordStart(kT0 + 12 * kSec + 84, kStored, "ok"));
  AppendOrFail(store, Webhook(kT0 + 13 * kSec, "call.answered", "wh-ans-2", other));
  AppendOrFail(store, RecordStart(kT0 + 13 * kSec + 40, kFailed, "failed", 422,
                                  R"({"errors":[{"code":"90018","title":"Call has already ended"}]})"));
  AppendOrFail(store, IntakeFailed(kT0 + 13 * kSec + 41, kFailed, "record_start_failed", "Call has already ended"));
  AppendOrFail(store, Webhook(kT0 + 20 * kSec, "call.answered", "wh-stranger", stranger));
  AppendOrFail(store, Webhook(kT0 + 5 * kMin, "call.hangup", "wh-hang-1", call));
  AppendOrFail(store, FetchScheduled(kT0 + 5 * kMin + 100, kStored, 1, 0, kT0 + 7 * kMin));
  AppendOrFail(store, ListResult(kT0 + 7 * kMin, kStored, 3, 0));
  AppendOrFail(store, FetchScheduled(kT0 + 7 * kMin + 100, kStored, 2, 1, kT0 + 8 * kMin, "not_found"));
  AppendOrFail(store, ListResult(kT0 + 8 * kMin, kStored, 1, 1));
  AppendOrFail(store, Matched(kT0 + 8 * kMin + 10, kStored, kRecordingId, RecordingUrl("intake_stored_8f14"), 334.798));
  AppendOrFail(store, StorageUpload(kT0 + 8 * kMin + 2 * kSec, kStored,
                                    UploadOk("file:///var/lib/callrec/recordings/intake_stored_8f14.wav", kSha256)));
  ProjectAll(store);
}

struct LifecycleCounts {
  uint64_t events = 0;
  int intakes = 0;
  std::map<std::string, int> by_state;  // what the projection should end with
};

// Appends `lifecycles` intake histories (about 10 events each) with kNoSync, `batch` events per
// AppendAll. Every 4th call ends failed, every 4th (+1) stays ended with a fetch pending, the
// rest are stored; every 10th has an extra webhook for a number no intake has.
inline LifecycleCounts WriteLifecycles(core::EventStore& store, int lifecycles, int64_t start_ms = kT0,
                                       size_t batch = 2000) {
  LifecycleCounts counts;
  std::vector<core::Event> pending;
  auto add = [&](core::Event e) {
    pending.push_back(std::move(e));
    if (pending.size() >= batch) {
      auto r = store.AppendAll(std::move(pending), core::Durability::kNoSync);
      EXPECT_OK(r);
      pending.clear();
    }
  };
  add(ServiceStarted(start_ms));
  for (int i = 0; i < lifecycles; ++i) {
    int64_t t = start_ms + int64_t(i) * 8 * kMin;  // one call after the other
    std::string id = "intake_" + std::to_string(i);
    char phone[16];
    std::snprintf(phone, sizeof phone, "+1555%07d", i);
    Call call;
    call.ccid = "v3:call-" + std::to_string(i) + "-Ab9z";
    call.leg = "lc-leg-" + std::to_string(i);
    call.session = "lc-session-" + std::to_string(i);
    call.to = phone;
    add(IntakeCreated(t, id, phone));
    add(Webhook(t + 2 * kSec, "call.initiated", "init-" + std::to_string(i), call));
    if (i % 10 == 0) {  // a call to a number no intake has
      Call stray = call;
      stray.ccid += "-stray";
      stray.leg += "-stray";
      stray.session += "-stray";
      stray.to = "+15559999999";
      add(Webhook(t + 3 * kSec, "call.answered", "stray-" + std::to_string(i), stray));
    }
    add(Webhook(t + 9 * kSec, "call.answered", "ans-" + std::to_string(i), call));
    if (i % 4 == 0) {
      add(RecordStart(t + 9 * kSec + 80, id, "failed", 422, R"({"errors":[{"code":"90018","title":"Call has already ended"}]})"));
      add(IntakeFailed(t + 9 * kSec + 90, id, "record_start_failed", "Call has already ended"));
      ++counts.by_state["failed"];
    } else {
      add(RecordStart(t + 9 * kSec + 80, id, "ok"));
      add(Webhook(t + 5 * kMin, "call.hangup", "hang-" + std::to_string(i), call));
      add(FetchScheduled(t + 5 * kMin + 50, id, 1, 0, t + 7 * kMin));
      if (i % 4 == 1) {
        ++counts.by_state["ended"];
      } else {
        add(ListResult(t + 7 * kMin, id, 1, 1));
        add(Matched(t + 7 * kMin + 10, id, "rec-" + std::to_string(i), RecordingUrl(id), 61.5));
        add(StorageUpload(t + 7 * kMin + 900, id, UploadOk("file:///r/" + id + ".wav", kSha256)));
        ++counts.by_state["stored"];
      }
    }
    ++counts.intakes;
  }
  if (!pending.empty()) {
    auto r = store.AppendAll(std::move(pending), core::Durability::kNoSync);
    EXPECT_OK(r);
  }
  counts.events = store.LastSeq();
  return counts;
}

}  // namespace callrec::testing

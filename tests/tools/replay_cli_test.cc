// `callrec replay [--verify]` as an operator runs it: the real binary over real stores whose
// derived data the real projector wrote (docs/ARCHITECTURE.md "Flow": a replay gives the same state byte for
// byte and performs no API call; §6: refuses while the store is held, --verify exits 1 on any
// difference, progress and events/s on long runs).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <regex>

#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "tools/audit_test_support.h"
#include "telnyx_sim/server.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

// The story store plus `lifecycles` more intakes, all projected by the live projector.
void BuildStore(const std::string& dir, int lifecycles) {
  BuildStoryStore(dir);
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir, clock).value());
  WriteLifecycles(*store, lifecycles, kT0 + 60 * kMin);
  ProjectAll(*store);
}

// Rewrites one derived value in place, as a bug or a hand edit might.
void PutDerived(const std::string& dir, const std::string& key, const std::string& value) {
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir, clock).value());
  core::DerivedBatch batch;
  batch.Put(key, value);
  ASSERT_OK(store->WriteDerived(batch));
}

void DeleteDerived(const std::string& dir, const std::string& key) {
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir, clock).value());
  core::DerivedBatch batch;
  batch.Delete(key);
  ASSERT_OK(store->WriteDerived(batch));
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in " << s;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// The RocksDB column families holding derived generations (the active one and any partial one).
std::vector<std::string> DerivedGenerations(const std::string& dir) {
  std::vector<std::string> names, out;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  EXPECT_OK(s);
  for (const auto& n : names)
    if (n.rfind("derived.", 0) == 0) out.push_back(n);
  return out;
}

TEST(ReplayCli, RebuildsDerivedDataByteForByteAsTheLiveProjectorWroteIt) {
  TempDir dir;
  BuildStore(dir.path(), 40);
  DerivedKeys live = DerivedSnapshot(dir.path());
  // The comparison is only worth something if every kind of derived key is there.
  for (const std::string& key : {"intake/" + kStored, "state/stored/" + kStored, "state/failed/" + kFailed,
                                 "state/created/" + kWaiting, std::string("projector/last_seq"),
                                 std::string("projector/unmatched_total"), std::string("projector/settings"),
                                 std::string("projector/format")})
    EXPECT_TRUE(live.count(key)) << key;
  auto has_prefix = [&](const std::string& prefix) {
    auto it = live.lower_bound(prefix);
    return it != live.end() && it->first.rfind(prefix, 0) == 0;
  };
  for (const char* prefix : {"link/", "updated/", "projector/phone/", "projector/call/c/", "projector/unmatched/",
                             "open/", "projector/unbound/", "projector/updated/"})
    EXPECT_TRUE(has_prefix(prefix)) << prefix;

  auto r = RunCallrec({"replay", "--data-dir", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  DerivedKeys replayed = DerivedSnapshot(dir.path());
  EXPECT_EQ(replayed.size(), live.size());
  EXPECT_TRUE(replayed == live) << "replay changed derived data";
  for (const auto& [key, value] : live) {
    auto it = replayed.find(key);
    if (it == replayed.end()) ADD_FAILURE() << "replay lost " << key;
    else if (it->second != value) ADD_FAILURE() << key << ": live " << value << "\nreplayed " << it->second;
  }
  for (const auto& [key, value] : replayed)
    if (!live.count(key)) ADD_FAILURE() << "replay added " << key;
  // A second replay of the same log is a no-op too, and leaves one derived generation.
  ASSERT_EQ(RunCallrec({"replay", "--data-dir", dir.path()}).exit_code, 0);
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == live);
  EXPECT_EQ(DerivedGenerations(dir.path()).size(), 1u);
}

TEST(ReplayCli, RefusesWhileAnotherProcessHoldsTheStore) {
  TempDir dir;
  BuildStore(dir.path(), 3);
  DerivedKeys before = DerivedSnapshot(dir.path());
  {
    ManualClock clock;
    auto held = core::EventStore::Open(dir.path(), clock);  // as `serve` holds it
    ASSERT_OK(held);
    for (std::vector<std::string> args : {std::vector<std::string>{"replay"}, {"replay", "--verify"}}) {
      args.insert(args.end(), {"--data-dir", dir.path()});
      auto r = RunCallrec(args);
      EXPECT_EQ(r.exit_code, 1) << args.back();
      EXPECT_TRUE(Contains(r.err, "in use by another process")) << r.err;
      EXPECT_TRUE(Contains(r.err, "stop `serve` first")) << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == before);
}

TEST(ReplayCli, VerifyPassesOnASoundStoreAndWritesNothing) {
  TempDir dir;
  BuildStore(dir.path(), 20);
  DerivedKeys before = DerivedSnapshot(dir.path());
  auto r = RunCallrec({"replay", "--verify", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "verified: the live projection equals a rebuild from")) << r.out;
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == before);
  EXPECT_EQ(DerivedGenerations(dir.path()).size(), 1u) << "verify must not leave a generation behind";
}

TEST(ReplayCli, VerifyNamesEachTamperedIntakeAndFieldUntilReplayRepairsIt) {
  TempDir dir;
  BuildStore(dir.path(), 5);
  DerivedKeys sound = DerivedSnapshot(dir.path());
  const std::string stored = sound.at("intake/" + kStored);
  PutDerived(dir.path(), "intake/" + kStored, Replace(stored, "\"state\":\"stored\"", "\"state\":\"failed\""));
  PutDerived(dir.path(), "intake/" + kWaiting,
             Replace(sound.at("intake/" + kWaiting), "+15550177777", "+15550170000"));
  PutDerived(dir.path(), "intake/intake_3",
             Replace(sound.at("intake/intake_3"), "\"recording_id\":\"rec-3\"", "\"recording_id\":\"rec-X\""));
  DerivedKeys tampered = DerivedSnapshot(dir.path());

  auto r = RunCallrec({"replay", "--verify", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "intake " + kStored + " differs:\n  state: live \"failed\", rebuilt \"stored\"\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "intake " + kWaiting + " differs:\n  patient_phone: live \"+15550170000\", "
                              "rebuilt \"+15550177777\"\n")) << r.out;
  EXPECT_TRUE(Contains(r.out, "intake intake_3 differs:\n  metadata.recording_id: live \"rec-X\", rebuilt \"rec-3\"\n"))
      << r.out;
  EXPECT_FALSE(Contains(r.out, kFailed)) << "an untouched intake is not a difference";
  EXPECT_TRUE(Contains(r.out, "verify FAILED: 3 difference(s)")) << r.out;
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == tampered) << "--verify must not repair or write";

  ASSERT_EQ(RunCallrec({"replay", "--data-dir", dir.path()}).exit_code, 0);
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == sound);
  EXPECT_EQ(RunCallrec({"replay", "--verify", "--data-dir", dir.path()}).exit_code, 0);
}

// Versions before issue 11 wrote a year-0 occurred_at at +01:00 as "-001-12-31T23:30:00.000Z",
// which nothing could read back (serve refused to start). `replay` rebuilds from the log, where
// the webhook is kept as received, and the store is sound again.
TEST(ReplayCli, AStoreHoldingAnUnreadableYearMinusOneTimeIsRepairedByReplay) {
  TempDir dir;
  BuildStore(dir.path(), 1);
  DerivedKeys sound = DerivedSnapshot(dir.path());
  std::string bricked = std::regex_replace(sound.at("intake/" + kStored), std::regex("\"hangup_at\":\"[^\"]*\""),
                                           "\"hangup_at\":\"-001-12-31T23:30:00.000Z\"");
  ASSERT_NE(bricked, sound.at("intake/" + kStored));
  PutDerived(dir.path(), "intake/" + kStored, bricked);
  ASSERT_EQ(RunCallrec({"replay", "--data-dir", dir.path()}).exit_code, 0);
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == sound);
  EXPECT_EQ(RunCallrec({"replay", "--verify", "--data-dir", dir.path()}).exit_code, 0);
}

TEST(ReplayCli, VerifyReportsDerivedKeysThatShouldNotExistOrAreMissing) {
  TempDir dir;
  BuildStore(dir.path(), 2);
  DerivedKeys sound = DerivedSnapshot(dir.path());
  PutDerived(dir.path(), "state/failed/" + kStored, "");  // a second state for one intake
  PutDerived(dir.path(), "intake/ghost", R"({"id":"ghost","state":"created"})");
  std::string link = sound.lower_bound("link/" + kStored + "/")->first;
  ASSERT_EQ(link.rfind("link/" + kStored + "/", 0), 0u);
  DeleteDerived(dir.path(), link);

  auto r = RunCallrec({"replay", "--verify", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "derived key state/failed/" + kStored + ": not in the rebuild")) << r.out;
  EXPECT_TRUE(Contains(r.out, "intake ghost differs:\n  missing from the rebuild")) << r.out;
  EXPECT_TRUE(Contains(r.out, "derived key link/" + kStored + "/")) << r.out;
  EXPECT_TRUE(Contains(r.out, "missing live")) << r.out;
  EXPECT_TRUE(Contains(r.out, "verify FAILED: 3 difference(s)")) << r.out;
}

TEST(ReplayCli, ShowsPlainProgressOnStderrAndTheSummaryOnStdout) {
  TempDir dir;
  LifecycleCounts counts;
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    counts = WriteLifecycles(*store, 3000);
  }
  ASSERT_GT(counts.events, 20000u);
  auto r = RunCallrec({"replay", "--data-dir", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string total = std::to_string(counts.events);

  auto progress = Lines(r.err);
  ASSERT_GE(progress.size(), 2u) << "a first line early and a last one at 100%:\n" << r.err;
  std::regex line("replay: (\\d+)/" + total + " events \\((\\d+)%\\), \\d+ events/s, ETA \\d+s");
  uint64_t previous = 0;
  for (const auto& l : progress) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, line)) << "not a plain progress line: " << l;
    uint64_t done = std::stoull(m[1]);
    EXPECT_GT(done, previous);
    previous = done;
  }
  EXPECT_TRUE(Contains(progress.back(), "replay: " + total + "/" + total + " events (100%)")) << progress.back();
  EXPECT_FALSE(Contains(r.err, "\r")) << "no redrawn bar when stderr is not a terminal";
  EXPECT_FALSE(Contains(r.err, "\x1b"));

  auto out = Lines(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(out[0], m, std::regex("replayed (\\d+) events in ([0-9.]+) s \\((\\d+) events/s\\): "
                                                     "(\\d+) intakes(.*), (\\d+) unmatched webhooks")))
      << out[0];
  EXPECT_EQ(m[1], total);
  EXPECT_GT(std::stoull(m[3]), 0u);
  EXPECT_EQ(std::stoi(m[4]), counts.intakes);
  std::string states;
  for (const auto& [state, n] : counts.by_state) states += ", " + std::to_string(n) + " " + state;
  EXPECT_EQ(m[5], states);
  EXPECT_EQ(m[6], "300");  // every 10th call went to a number no intake has
}

TEST(ReplayCli, RedrawsOneProgressBarOnATerminal) {
  TempDir dir;
  uint64_t events = 0;
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    events = WriteLifecycles(*store, 1500).events;
  }
  auto r = RunInTerminal({BinaryPath("callrec"), "replay", "--data-dir", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string total = std::to_string(events);
  EXPECT_TRUE(Contains(r.out, "\r[#########################] 100%  " + total + "/" + total + " events")) << r.out;
  EXPECT_FALSE(Contains(r.out, "replay: ")) << "plain lines are for logs, not terminals";
  EXPECT_TRUE(Contains(r.out, "replayed " + total + " events in ")) << r.out;
}

// A child process with its stderr on a pipe, so the test can act on what it prints.
struct Spawned {
  pid_t pid = -1;
  int err_fd = -1;
};

Spawned Spawn(const std::vector<std::string>& argv) {
  Spawned s;
  int err[2];
  if (::pipe(err) != 0) return s;
  s.pid = ::fork();
  if (s.pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err[1], 2);
    ::close(err[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(err[1]);
  s.err_fd = err[0];
  return s;
}

// Reads the child's stderr until a line containing `marker` has arrived (false on EOF).
bool WaitForLine(int fd, const std::string& marker, std::string& seen) {
  char buf[4096];
  while (true) {
    size_t nl = seen.find('\n');
    for (size_t start = 0; nl != std::string::npos; start = nl + 1, nl = seen.find('\n', start))
      if (seen.substr(start, nl - start).find(marker) != std::string::npos) return true;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    seen.append(buf, size_t(n));
  }
}

TEST(ReplayCli, KilledMidwayLeavesTheOldProjectionInPlace) {
  TempDir dir;
  LifecycleCounts counts;
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    counts = WriteLifecycles(*store, 27300);
    ProjectAll(*store, 4096);
  }
  ASSERT_GE(counts.events, 200000u);
  DerivedKeys before = DerivedSnapshot(dir.path());
  auto show_before = RunCallrec({"show", "intake_27298", "--json", "--data-dir", dir.path()});
  ASSERT_EQ(show_before.exit_code, 0) << show_before.err;

  Spawned child = Spawn({BinaryPath("callrec"), "replay", "--data-dir", dir.path()});
  ASSERT_GT(child.pid, 0);
  std::string err;
  bool progressed = WaitForLine(child.err_fd, "replay: ", err);
  ::kill(child.pid, SIGKILL);
  int status = 0;
  ::waitpid(child.pid, &status, 0);
  ::close(child.err_fd);
  ASSERT_TRUE(progressed) << "replay ended before its first progress line: " << err;
  ASSERT_TRUE(WIFSIGNALED(status)) << "replay finished before the kill; the log is too small to test this";
  EXPECT_FALSE(Contains(err, "/" + std::to_string(counts.events) + " events (100%)")) << err;
  // The half-built generation is still on disk beside the active one...
  EXPECT_EQ(DerivedGenerations(dir.path()).size(), 2u);

  // ...but nobody sees it: readers get the old projection, intact.
  auto show_after = RunCallrec({"show", "intake_27298", "--json", "--data-dir", dir.path()});
  EXPECT_EQ(show_after.exit_code, 0);
  EXPECT_EQ(show_after.out, show_before.out);
  EXPECT_TRUE(DerivedSnapshot(dir.path()) == before);
  auto verify = RunCallrec({"replay", "--verify", "--data-dir", dir.path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // Opening the store for writing (verify did) drops the abandoned generation.
  EXPECT_EQ(DerivedGenerations(dir.path()).size(), 1u);
}

// Replay never builds an HTTP client. Point every endpoint callrec knows at a live sim and check
// that nothing arrives, although the log holds intakes the live service would act on (record
// starts to make, fetches due).
TEST(ReplayCli, PerformsNoApiCallEvenWithEveryEndpointConfigured) {
  TempDir dir;
  BuildStore(dir.path(), 8);
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    Call call;
    call.ccid = "v3:needs-record-start";
    call.leg = "leg-pending";
    call.session = "session-pending";
    call.to = "+15550144444";
    AppendOrFail(*store, IntakeCreated(kT0 + 90 * kMin, "intake_answered", "+15550144444"));
    AppendOrFail(*store, Webhook(kT0 + 90 * kMin + 5 * kSec, "call.answered", "wh-pending", call));
    ProjectAll(*store);
  }
  ASSERT_TRUE(Contains(DerivedSnapshot(dir.path()).at("intake/intake_answered"), "\"state\":\"answered\""))
      << DerivedSnapshot(dir.path()).at("intake/intake_answered");
  ASSERT_TRUE(Contains(DerivedSnapshot(dir.path()).at("intake/intake_1"), "\"state\":\"ended\""));

  ManualClock clock;
  auto sim = telnyx_sim::TelnyxSim::Start(telnyx_sim::SimConfig{}, clock);
  ASSERT_OK(sim);
  const std::string base = (*sim)->base_url();
  std::vector<std::string> env = {"CALLREC_DATA_DIR=" + dir.path(), "TELNYX_API_BASE=" + base,
                                  "TELNYX_API_KEY=KEYtest", "SUPABASE_URL=" + base,
                                  "SUPABASE_SERVICE_ROLE_KEY=service-role-test"};
  auto replay = RunCallrec({"replay"}, env);
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  auto verify = RunCallrec({"replay", "--verify"}, env);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  EXPECT_EQ((*sim)->ApiRequestCount(), 0u);
  httplib::Client client("127.0.0.1", (*sim)->port());
  auto stats = client.Get("/sim/stats");
  ASSERT_TRUE(stats);
  EXPECT_TRUE(Contains(stats->body, "\"requests\":{}")) << "something reached the sim: " << stats->body;
  // The counter does see a request when one is made (so the zero above means something).
  client.Get("/v2/recordings");
  EXPECT_EQ((*sim)->ApiRequestCount(), 1u);
}

TEST(ReplayCli, AMissingStoreIsAnErrorAndIsNotCreated) {
  TempDir dir;
  const std::string missing = dir.Sub("no-such-store");
  for (std::vector<std::string> args : {std::vector<std::string>{"replay"}, {"replay", "--verify"}}) {
    args.insert(args.end(), {"--data-dir", missing});
    auto r = RunCallrec(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(Contains(r.err, "no callrec store in " + missing)) << r.err;
    EXPECT_FALSE(std::filesystem::exists(missing)) << "replay must not create an empty store";
  }
  // A directory that is not a store (say, --data-dir data instead of data/store) stays untouched.
  const std::string other = dir.Sub("not-a-store");
  std::filesystem::create_directory(other);
  { std::FILE* f = std::fopen((other + "/notes.txt").c_str(), "w"); std::fclose(f); }
  auto r = RunCallrec({"replay", "--data-dir", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "no callrec store in " + other)) << r.err;
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(other)) ++entries;
  EXPECT_EQ(entries, 1u) << "replay wrote into a directory that holds no store";
  EXPECT_EQ(RunCallrec({"replay", "--bogus", "--data-dir", dir.path()}).exit_code, 2);
}

}  // namespace
}  // namespace callrec::testing

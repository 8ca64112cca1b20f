// `callrec events` and `callrec check` as an operator runs them: the real binary, a real store.
#include <gtest/gtest.h>

#include "core/event_store.h"
#include "core/json.h"
#include "fakes/manual_clock.h"
#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

void Fill(const std::string& dir, int n) {
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir, clock).value());
  for (int i = 0; i < n; ++i) {
    core::Event e;
    e.type = i % 2 ? "telnyx.webhook" : "intake.created";
    e.intake_id = i % 2 ? "" : "intake_" + std::to_string(i % 4);
    e.source = "api";
    e.payload = "{\"n\":" + std::to_string(i) + "}";
    ASSERT_OK(store->Append(std::move(e)));
  }
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(s.substr(start, nl - start));
  return lines;
}

TEST(StoreCli, EventsPrintsJsonLinesFromASeqAndForAnIntake) {
  TempDir dir;
  Fill(dir.path(), 10);
  auto all = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir.path()});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 10u);
  for (const auto& l : lines) EXPECT_TRUE(core::IsValidJson(l)) << l;
  EXPECT_NE(lines[0].find("\"seq\":1,"), std::string::npos);
  EXPECT_NE(lines[9].find("\"payload\":{\"n\":9}"), std::string::npos);

  auto from = RunCommand({BinaryPath("callrec"), "events", "--from", "8", "--data-dir", dir.path()});
  EXPECT_EQ(Lines(from.out).size(), 3u);
  auto intake = RunCommand({BinaryPath("callrec"), "events", "--intake", "intake_0", "--data-dir", dir.path()});
  auto il = Lines(intake.out);
  ASSERT_EQ(il.size(), 3u);  // seqs 1, 5, 9 (i = 0, 4, 8)
  EXPECT_NE(il[1].find("\"seq\":5,"), std::string::npos);
}

// A webhook body arrives as the sender formatted it, pretty-printed included; the log keeps it
// byte for byte, but `events` promises one event per line to every line-oriented reader.
TEST(StoreCli, EventsPrintsOneLinePerEventWhateverThePayload) {
  TempDir dir;
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    for (std::string payload :
         {std::string("{\n  \"data\": {\n    \"id\": \"a b\",\n    \"n\": [1, 2.50]\n  }\n}\n"),
          std::string("not json\nsecond line\r\n"), std::string("{\"x\":\"keep  spaces\"}")}) {
      core::Event e;
      e.type = "telnyx.webhook";
      e.source = "telnyx.webhook";
      e.payload = payload;
      ASSERT_OK(store->Append(std::move(e)));
    }
  }
  auto r = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  for (const auto& l : lines) EXPECT_TRUE(core::IsValidJson(l)) << l;
  // JSON: compact, values untouched (strings keep their inner spaces, numbers their digits).
  EXPECT_NE(lines[0].find(R"("payload":{"data":{"id":"a b","n":[1,2.50]}})"), std::string::npos)
      << lines[0];
  // Not JSON: an escaped string.
  EXPECT_NE(lines[1].find(R"("payload":"not json\nsecond line\r\n")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(R"("payload":{"x":"keep  spaces"})"), std::string::npos) << lines[2];
}

TEST(StoreCli, EnvironmentNamesTheStoreAndFlagsWin) {
  TempDir dir;
  Fill(dir.path(), 2);
  auto via_env = RunCommand({BinaryPath("callrec"), "events"}, {"CALLREC_DATA_DIR=" + dir.path()});
  EXPECT_EQ(Lines(via_env.out).size(), 2u);
  auto flag_wins = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir.Sub("none")},
                              {"CALLREC_DATA_DIR=" + dir.path()});
  EXPECT_EQ(flag_wins.exit_code, 1);
  EXPECT_NE(flag_wins.err.find("no callrec store"), std::string::npos);
}

TEST(StoreCli, BadFlagsAreUsageErrors) {
  auto r = RunCommand({BinaryPath("callrec"), "events", "--from", "0"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({BinaryPath("callrec"), "events", "--from", "abc"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({BinaryPath("callrec"), "no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({BinaryPath("callrec")});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({BinaryPath("callrec"), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("events"), std::string::npos);
}

// A malformed intake id is a usage error before any store is opened or request sent: `retry` would
// otherwise put "a b" into a request line, and `show` would answer a misleading "no intake".
TEST(StoreCli, MalformedIntakeIdsAreUsageErrors) {
  TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"intake", "retry", "a b"},
           {"intake", "retry", "a/../b"},
           {"intake", "create", "--phone", "+15550123456", "--id", "x?y"},
           {"intake", "create", "--phone", "+15550123456", "--id", std::string(41, 'x')},
           {"show", "a/b", "--data-dir", dir.path()},
           {"timeline", "", "--data-dir", dir.path()}}) {
    std::vector<std::string> argv = {BinaryPath("callrec")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, {"CALLREC_ADMIN_TOKEN=t"});
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find("1-40 characters"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(StoreCli, CheckPassesThenNamesTheDamagedSeq) {
  TempDir dir;
  Fill(dir.path(), 12);
  auto ok = RunCommand({BinaryPath("callrec"), "check", "--data-dir", dir.path()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("12 events"), std::string::npos);
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
    ASSERT_OK(store->CorruptRecordForTest(9, 30));
  }
  auto bad = RunCommand({BinaryPath("callrec"), "check", "--data-dir", dir.path()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("seq 9"), std::string::npos) << bad.err;
  auto events = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir.path()});
  EXPECT_EQ(events.exit_code, 1) << "a damaged record must not be printed as if it were fine";
  EXPECT_EQ(Lines(events.out).size(), 8u);
}

// While another process holds the store (as `serve` does), events and check still read it.
TEST(StoreCli, ReadsWhileAnotherProcessHoldsTheStore) {
  TempDir dir;
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir.path(), clock).value());
  for (int i = 0; i < 4; ++i) {
    core::Event e;
    e.type = "x";
    e.source = "api";
    e.payload = "{}";
    ASSERT_OK(store->Append(std::move(e)));
  }
  auto r = RunCommand({BinaryPath("callrec"), "events", "--data-dir", dir.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 4u);
  auto c = RunCommand({BinaryPath("callrec"), "check", "--data-dir", dir.path()});
  EXPECT_EQ(c.exit_code, 0) << c.err;
}

}  // namespace
}  // namespace callrec::testing

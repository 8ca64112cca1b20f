// `callrec timeline`, `callrec show`, `callrec intakes` as a support engineer runs them: the real
// binary over a store whose history and derived data are known (audit_test_support.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "core/timeline.h"
#include "fakes/run_command.h"
#include "fakes/temp_dir.h"
#include "tools/audit_test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

// Columns as a terminal shows them: UTF-8 continuation bytes take no column.
size_t DisplayColumn(const std::string& line, size_t byte_offset) {
  size_t col = 0;
  for (size_t i = 0; i < byte_offset && i < line.size(); ++i)
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++col;
  return col;
}

class AuditCli : public ::testing::Test {
 protected:
  void SetUp() override { BuildStoryStore(dir_.path()); }
  const std::string& dir() const { return dir_.path(); }

  TempDir dir_;
};

TEST_F(AuditCli, TimelineTellsTheStoryOneLinePerEvent) {
  auto r = RunCallrec({"timeline", kStored, "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  // created, initiated (tied later), answered, record_start, hangup, 2 x (scheduled, list),
  // matched, stored: the duplicate delivery, the other intakes and the stranger's call are absent.
  ASSERT_EQ(lines.size(), 11u) << r.out;
  std::regex shape(R"((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) +(\+\S+) +#(\d+) +(\S+) +(.+))");
  std::vector<uint64_t> seqs;
  std::vector<std::string> sources, summaries, offsets;
  for (const auto& l : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, shape)) << "unexpected line: " << l;
    offsets.push_back(m[2]);
    seqs.push_back(std::stoull(m[3]));
    sources.push_back(m[4]);
    summaries.push_back(m[5]);
  }
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end()) << "an event shown twice";
  EXPECT_TRUE(lines[0].starts_with("2026-11-20T15:00:01.000Z")) << lines[0];
  EXPECT_EQ(offsets[0], "+0.000s");
  EXPECT_EQ(offsets[1], "+3.000s");
  EXPECT_EQ(offsets[4], "+4m59.0s");
  EXPECT_EQ(sources[0], "api");
  EXPECT_EQ(summaries[0], "intake created, patient …3456");
  // The call.initiated came before the answer bound the call: linked afterwards, shown in order.
  EXPECT_EQ(sources[1], "telnyx.webhook");
  EXPECT_EQ(summaries[1], "call.initiated, patient …3456, call v3:…Yw2a");
  // The answer that bound the call says how (README "How a call finds its intake") and which way the call went.
  EXPECT_EQ(summaries[2],
            "call.answered, patient …3456, call v3:…Yw2a — matched by phone; outgoing (from call.initiated)");
  EXPECT_EQ(summaries[3], "record_start → 200 in 12 ms");
  EXPECT_EQ(sources[3], "telnyx.api");
  EXPECT_EQ(summaries[4], "call.hangup (normal_clearing by callee), call v3:…Yw2a");
  EXPECT_EQ(summaries[5], "fetch #1 scheduled for 15:07:00 (hangup)");
  EXPECT_EQ(summaries[6], "recordings list → 200 in 12 ms, 0 of 3 verified (other calls)");
  EXPECT_EQ(summaries[7], "fetch #2 scheduled for 15:08:00 (not_found)");
  EXPECT_EQ(summaries[8], "recordings list → 200 in 12 ms, 1 of 1 verified");
  EXPECT_EQ(summaries[9], "matched rec 7b2f…4b11, 334.8 s");
  EXPECT_EQ(summaries[10], "stored, sha256 ab12…, 5.1 MB → file:///var/lib/callrec/recordings/intake_stored_8f14.wav");
  EXPECT_EQ(sources[10], "storage");
  EXPECT_FALSE(Contains(r.out, "\x1b[")) << "no colour codes when stdout is not a terminal";
  EXPECT_FALSE(Contains(r.out, "+15550123456")) << "phone numbers are masked";
}

TEST_F(AuditCli, TimelineOfAFailedIntakeSaysWhy) {
  auto r = RunCallrec({"timeline", kFailed, "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_TRUE(lines[2].ends_with("record_start → 422 in 12 ms: Call has already ended (90018)")) << lines[2];
  EXPECT_TRUE(lines[3].ends_with("FAILED record_start_failed: Call has already ended")) << lines[3];
}

// The colours the plain-output test checks are absent do exist: on a terminal, failures are red
// and the time column dim.
TEST_F(AuditCli, TimelineUsesColourOnlyOnATerminal) {
  auto r = RunInTerminal({BinaryPath("callrec"), "timeline", kFailed, "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "\x1b[31mFAILED record_start_failed")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\x1b[2m2026-11-20T15:00:02.000Z")) << r.out;
  EXPECT_EQ(Lines(r.out).size(), 4u);
}

TEST_F(AuditCli, TimelineJsonIsWhatTheApiServes) {
  auto r = RunCallrec({"timeline", kStored, "--json", "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto reader = core::EventStore::OpenReader(dir());
  ASSERT_OK(reader);
  auto entries = core::LoadTimeline(**reader, kStored);
  ASSERT_OK(entries);
  ASSERT_EQ(entries->size(), 11u);
  EXPECT_EQ(r.out, core::TimelineJson(kStored, *entries) + "\n");
  EXPECT_TRUE(core::IsValidJson(Lines(r.out).at(0)));
  EXPECT_TRUE(Contains(r.out, "\"type\":\"recording.matched\"")) << r.out;
}

TEST_F(AuditCli, UnknownIdsAreNamedInTheError) {
  for (const char* cmd : {"timeline", "show"}) {
    auto r = RunCallrec({cmd, "intake_nope", "--data-dir", dir()});
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.out, "") << cmd << " printed data for an unknown id";
    EXPECT_TRUE(Contains(r.err, "no intake with id 'intake_nope'")) << r.err;
    auto json = RunCallrec({cmd, "intake_nope", "--json", "--data-dir", dir()});
    EXPECT_EQ(json.exit_code, 1);
    EXPECT_EQ(json.out, "");
  }
  // A webhook tied to nobody is not an intake either, even though events exist under "".
  auto empty = RunCallrec({"timeline", "", "--data-dir", dir()});
  EXPECT_NE(empty.exit_code, 0);
  EXPECT_EQ(empty.out, "");
  auto missing = RunCallrec({"timeline", kStored});
  EXPECT_EQ(missing.exit_code, 1) << "the default data/store does not exist here";
  EXPECT_EQ(RunCallrec({"timeline", "--data-dir", dir()}).exit_code, 2) << "id is required";
}

TEST_F(AuditCli, ShowPrintsOneFieldPerLineAndMetadataKeysOnTheirOwnLines) {
  auto json = RunCallrec({"show", kStored, "--json", "--data-dir", dir()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto reader = core::EventStore::OpenReader(dir());
  ASSERT_OK(reader);
  auto derived = (*reader)->GetDerived("intake/" + kStored);
  ASSERT_TRUE(derived.ok() && derived->has_value());
  EXPECT_EQ(json.out, **derived + "\n") << "--json is the derived intake JSON byte for byte";

  auto r = RunCallrec({"show", kStored, "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  auto value_of = [&](const std::string& field) -> std::string {
    std::regex re(std::regex_replace(field, std::regex(R"([.])"), R"(\.)") + " +(.*)");
    for (const auto& l : lines) {
      std::smatch m;
      if (std::regex_match(l, m, re)) return m[1];
    }
    ADD_FAILURE() << "no line for " << field << " in\n" << r.out;
    return "";
  };
  EXPECT_EQ(value_of("id"), kStored);
  EXPECT_EQ(value_of("state"), "stored");
  EXPECT_EQ(value_of("patient_id"), "p-17");
  EXPECT_EQ(value_of("failure_reason"), "null");
  EXPECT_EQ(value_of("metadata.recording_id"), kRecordingId);
  EXPECT_EQ(value_of("metadata.call_control_id"), kCallId);
  EXPECT_EQ(value_of("metadata.clinic"), "north");
  EXPECT_EQ(value_of("metadata.recording_duration"), "334798") << "Telnyx's duration_millis";
  EXPECT_EQ(value_of("metadata.recording_sha256"), kSha256);
  for (const auto& l : lines) {
    EXPECT_FALSE(l.starts_with("metadata ")) << "metadata printed as one JSON line: " << l;
    EXPECT_FALSE(Contains(l, "{\"")) << l;
  }
  // Values start in one column, so the eye can run down them.
  size_t column = lines.at(0).find(kStored);
  for (const auto& l : lines) {
    size_t gap = l.find("  ");
    ASSERT_NE(gap, std::string::npos) << l;
    EXPECT_EQ(l.find_first_not_of(' ', gap), column) << l;
  }
}

TEST_F(AuditCli, ShowOfAFreshIntakeListsTheSeedKeysAsNull) {
  auto r = RunCallrec({"show", kWaiting, "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nstate +created\n"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nmetadata\\.recording_id +null\n"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nmetadata\\.verified_ids +\\[\\]\n"))) << r.out;
  EXPECT_TRUE(Contains(r.out, "+15550177777")) << "show is the full record, phone included";
}

TEST_F(AuditCli, IntakesIsAnAlignedTableThatFiltersByState) {
  // An id of the maximum length (64) must not push its row's columns out of line.
  const std::string long_id(64, 'L');
  {
    ManualClock clock;
    auto store = std::move(core::EventStore::Open(dir(), clock).value());
    AppendOrFail(*store, IntakeCreated(kT0 + 30 * kMin, long_id, "+15550166666"));
    ProjectAll(*store);
  }
  auto r = RunCallrec({"intakes", "--data-dir", dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;  // header + 4 intakes, by id
  EXPECT_TRUE(lines[0].starts_with("ID ")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with(long_id + " ")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with(kFailed + " "));
  EXPECT_TRUE(lines[3].starts_with(kStored + " "));
  EXPECT_TRUE(lines[4].starts_with(kWaiting + " "));
  EXPECT_TRUE(Contains(r.err, "4 intake(s)")) << r.err;
  // Every column starts at the same screen column as its header.
  const std::string& header = lines[0];
  auto column_of = [](const std::string& line, const std::string& text) {
    size_t at = line.find(text);
    EXPECT_NE(at, std::string::npos) << text << " not in " << line;
    return DisplayColumn(line, at);
  };
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(column_of(lines[i], "…"), column_of(header, "PHONE")) << lines[i];
    EXPECT_EQ(column_of(lines[i], "2026-11-20T"), column_of(header, "UPDATED")) << lines[i];
  }
  EXPECT_EQ(column_of(lines[1], " created "), column_of(header, "STATE") - 1);
  EXPECT_TRUE(Contains(lines[2], "record_start_failed: record_start failed: Call has already ended (code 90018)"))
      << lines[2];
  EXPECT_TRUE(Contains(lines[3], kRecordingId)) << lines[3];
  EXPECT_TRUE(Contains(lines[3], "…3456"));
  EXPECT_FALSE(Contains(r.out, "+15550123456")) << "phone numbers are masked";

  auto failed = RunCallrec({"intakes", "--state", "failed", "--data-dir", dir()});
  ASSERT_EQ(failed.exit_code, 0) << failed.err;
  auto fl = Lines(failed.out);
  ASSERT_EQ(fl.size(), 2u) << failed.out;
  EXPECT_TRUE(fl[1].starts_with(kFailed + " "));
  auto fetched = RunCallrec({"intakes", "--state", "fetched", "--data-dir", dir()});
  EXPECT_EQ(fetched.exit_code, 0);
  EXPECT_EQ(Lines(fetched.out).size(), 1u) << "only the header: " << fetched.out;
  EXPECT_TRUE(Contains(fetched.err, "0 intake(s)"));

  auto json = RunCallrec({"intakes", "--state", "stored", "--json", "--data-dir", dir()});
  ASSERT_EQ(json.exit_code, 0);
  auto reader = core::EventStore::OpenReader(dir());
  ASSERT_OK(reader);
  EXPECT_EQ(json.out, "{\"intakes\":[" + (*reader)->GetDerived("intake/" + kStored)->value() + "]}\n");

  auto bogus = RunCallrec({"intakes", "--state", "bogus", "--data-dir", dir()});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(bogus.out, "");
  EXPECT_TRUE(Contains(bogus.err, "bogus")) << bogus.err;
}

TEST_F(AuditCli, WorksOnACopiedStore) {
  const std::string copy = dir() + "-copy";
  std::filesystem::copy(dir(), copy, std::filesystem::copy_options::recursive);
  auto original = RunCallrec({"timeline", kStored, "--data-dir", dir()});
  auto r = RunCallrec({"timeline", kStored, "--data-dir", copy});
  auto show = RunCallrec({"show", kStored, "--json", "--data-dir", copy});
  auto list = RunCallrec({"intakes", "--data-dir", copy});
  std::filesystem::remove_all(copy);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, original.out);
  EXPECT_EQ(Lines(r.out).size(), 11u);
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_TRUE(Contains(show.out, "\"state\":\"stored\""));
  EXPECT_EQ(Lines(list.out).size(), 4u);
}

TEST_F(AuditCli, WorksWhileAnotherProcessHoldsTheStoreAndSeesItsNewEvents) {
  ManualClock clock;
  auto store = std::move(core::EventStore::Open(dir(), clock).value());  // as `serve` holds it
  auto r = RunCallrec({"timeline", kFailed, "--data-dir", dir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 4u);
  // The holder keeps writing: an operator retry, projected. The next run shows it.
  AppendOrFail(*store, RetryRequested(kT0 + 20 * kMin, kFailed));
  ProjectAll(*store);
  auto after = RunCallrec({"timeline", kFailed, "--data-dir", dir()});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  auto lines = Lines(after.out);
  ASSERT_EQ(lines.size(), 5u) << after.out;
  EXPECT_TRUE(lines[4].ends_with("retry requested by operator (api)")) << lines[4];
  auto show = RunCallrec({"show", kFailed, "--json", "--data-dir", dir()});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_FALSE(Contains(show.out, "\"state\":\"failed\"")) << "the retry re-armed it: " << show.out;
  auto list = RunCallrec({"intakes", "--state", "failed", "--data-dir", dir()});
  EXPECT_EQ(Lines(list.out).size(), 1u) << list.out;
}

}  // namespace
}  // namespace callrec::testing

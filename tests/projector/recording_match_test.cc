#include "projector/actor/recording_match.h"

#include <gtest/gtest.h>

namespace callrec::projector {
namespace {

constexpr char kSession[] = "sess-1";
constexpr char kLeg[] = "leg-1";
constexpr char kCcid[] = "v3:cc-1";

Recording Rec(std::string id, int64_t created_ms, std::string file = "intake_1-1763651052.wav",
              std::string leg = kLeg, std::string session = kSession) {
  Recording r;
  r.id = std::move(id);
  r.call_control_id = kCcid;
  r.call_leg_id = std::move(leg);
  r.call_session_id = std::move(session);
  r.status = "completed";
  r.created_at_ms = created_ms;
  r.download_url_wav = "https://s3.amazonaws.com/bucket/acct/2026-11-20/" + file +
                       "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600";
  return r;
}

CallIdentity Manual() {
  return {.intake_id = "intake_1",
          .call_control_id = kCcid,
          .call_leg_id = kLeg,
          .call_session_id = kSession,
          .expect_custom_file_name = true};
}

TEST(DownloadFileNameTest, LastSegmentBeforeQueryDecoded) {
  EXPECT_EQ(DownloadFileName("https://h/a/b/intake_1-17.wav?X=1/2"), "intake_1-17.wav");
  EXPECT_EQ(DownloadFileName("https://h/a/intake%5F1-17.wav#frag"), "intake_1-17.wav");
  EXPECT_EQ(DownloadFileName("https://host-only"), "");
  EXPECT_EQ(DownloadFileName("relative/x.wav"), "x.wav");
}

TEST(FileNameBelongsToIntakeTest, PrefixTimestampAndCollisions) {
  EXPECT_TRUE(FileNameBelongsToIntake("intake_1-1763651052.wav", "intake_1"));
  EXPECT_TRUE(FileNameBelongsToIntake("intake_1-17", "intake_1"));  // suffix length is loose
  EXPECT_FALSE(FileNameBelongsToIntake("intake_10-1763651052.wav", "intake_1"));
  EXPECT_FALSE(FileNameBelongsToIntake("a-1-1763651052.wav", "a"));  // intake "a-1"'s file
  EXPECT_TRUE(FileNameBelongsToIntake("a-1-1763651052.wav", "a-1"));
  EXPECT_FALSE(FileNameBelongsToIntake("intake_1-.wav", "intake_1"));
  EXPECT_FALSE(FileNameBelongsToIntake("intake_1.wav", "intake_1"));
  EXPECT_FALSE(FileNameBelongsToIntake("xintake_1-17.wav", "intake_1"));
  EXPECT_FALSE(FileNameBelongsToIntake("leg-1-1763651052.wav", ""));
}

TEST(VerifyTest, RejectsEachMismatchWithAReason) {
  CallIdentity call = Manual();
  EXPECT_TRUE(Verify(Rec("r", 1), call).verified);

  MatchVerdict other_session = Verify(Rec("r", 1, "intake_1-1.wav", kLeg, "sess-2"), call);
  EXPECT_FALSE(other_session.verified);
  EXPECT_NE(other_session.reason.find("call_session_id"), std::string::npos);

  MatchVerdict other_leg = Verify(Rec("r", 1, "intake_1-1.wav", "leg-2"), call);
  EXPECT_FALSE(other_leg.verified);
  EXPECT_NE(other_leg.reason.find("call_leg_id"), std::string::npos);

  // Telnyx does not promise a recording's call_control_id is the webhooks' string (a documented
  // example carries the leg UUID): same leg and session is this call, whatever it says.
  Recording other_cc = Rec("r", 1);
  other_cc.call_control_id = kLeg;
  EXPECT_TRUE(Verify(other_cc, call).verified);
  other_cc.call_control_id = "";  // absent on the recording: not held against it
  EXPECT_TRUE(Verify(other_cc, call).verified);
  // Without a leg to compare, the control id must be the call's.
  CallIdentity no_leg = call;
  no_leg.call_leg_id.clear();
  other_cc.call_control_id = "v3:other";
  EXPECT_FALSE(Verify(other_cc, no_leg).verified);

  Recording processing = Rec("r", 1);
  processing.status = "processing";
  EXPECT_FALSE(Verify(processing, call).verified);

  Recording no_url = Rec("r", 1);
  no_url.download_url_wav.clear();
  EXPECT_FALSE(Verify(no_url, call).verified);

  MatchVerdict wrong_file = Verify(Rec("r", 1, "intake_10-1763651052.wav"), call);
  EXPECT_FALSE(wrong_file.verified);
  EXPECT_NE(wrong_file.reason.find("intake_10-1763651052.wav"), std::string::npos);

  Recording mp3_other = Rec("r", 1);
  mp3_other.download_url_mp3 = "https://s3/x/intake_2-1763651052.mp3?sig";
  EXPECT_FALSE(Verify(mp3_other, call).verified);  // every URL must be this intake's

  CallIdentity no_session = call;
  no_session.call_session_id.clear();
  EXPECT_FALSE(Verify(Rec("r", 1), no_session).verified);
}

TEST(VerifyTest, AutoModeMatchesBySessionWithoutFileName) {
  // Auto mode: Telnyx names the file after the leg; only the ids can be checked.
  CallIdentity call{.intake_id = "intake_1", .call_session_id = kSession};
  EXPECT_TRUE(Verify(Rec("r", 1, "leg-1-1763651052.wav"), call).verified);
  EXPECT_TRUE(Verify(Rec("r", 1, "x.wav", "another-leg"), call).verified);  // leg unknown
  EXPECT_FALSE(Verify(Rec("r", 1, "x.wav", kLeg, "sess-9"), call).verified);
}

TEST(SelectRecordingTest, OtherCallsNewerRecordingListedFirstIsNotChosen) {
  std::vector<Recording> listing = {
      Rec("other-newest", 9000, "intake_10-1763651099.wav"),  // another intake, newer, first
      Rec("other-session", 8000, "intake_1-1763651090.wav", kLeg, "sess-2"),
      Rec("mine-old", 1000, "intake_1-1763651000.wav"),
      Rec("mine-new", 5000, "intake_1-1763651052.wav"),
  };
  Selection s = SelectRecording(listing, Manual());
  ASSERT_TRUE(s.chosen.has_value());
  EXPECT_EQ(s.chosen->id, "mine-new");
  EXPECT_EQ(s.candidates, 4u);
  EXPECT_EQ(s.verified_ids, (std::vector<std::string>{"mine-old", "mine-new"}));
  ASSERT_EQ(s.rejected.size(), 2u);
  EXPECT_EQ(s.rejected[0].first, "other-newest");
  EXPECT_EQ(s.rejected[1].first, "other-session");
}

TEST(SelectRecordingTest, SameSessionOtherLegIsRejected) {
  std::vector<Recording> listing = {Rec("b-leg", 9000, "intake_1-1763651099.wav", "leg-2"),
                                    Rec("a-leg", 1000)};
  Selection s = SelectRecording(listing, Manual());
  ASSERT_TRUE(s.chosen.has_value());
  EXPECT_EQ(s.chosen->id, "a-leg");
  EXPECT_EQ(s.verified_ids.size(), 1u);
}

TEST(SelectRecordingTest, NoVerifiedMeansNoneChosen) {
  std::vector<Recording> listing = {Rec("x", 9000, "intake_10-1.wav"),
                                    Rec("y", 8000, "intake_1-1.wav", "leg-9")};
  Selection s = SelectRecording(listing, Manual());
  EXPECT_FALSE(s.chosen.has_value());
  EXPECT_TRUE(s.verified_ids.empty());
  EXPECT_EQ(s.candidates, 2u);
  EXPECT_FALSE(SelectRecording({}, Manual()).chosen.has_value());
}

TEST(SelectRecordingTest, RepeatedIdsCountOnceAndTiesDoNotDependOnOrder) {
  std::vector<Recording> listing = {Rec("a", 5000), Rec("b", 5000), Rec("a", 5000)};
  Selection s = SelectRecording(listing, Manual());
  EXPECT_EQ(s.candidates, 2u);
  EXPECT_EQ(s.verified_ids.size(), 2u);
  std::vector<Recording> reversed(listing.rbegin(), listing.rend());
  EXPECT_EQ(SelectRecording(reversed, Manual()).chosen->id, s.chosen->id);
}

}  // namespace
}  // namespace callrec::projector

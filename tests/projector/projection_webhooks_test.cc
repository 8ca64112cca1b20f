// Projection: binding calls to intakes, and webhook orderings Telnyx may deliver.
#include <gtest/gtest.h>

#include <algorithm>

#include "projector/event_builders.h"
#include "projector/projection/projection.h"
#include "projector/projection_harness.h"

namespace callrec::projector {
namespace {

using namespace callrec::testing;  // NOLINT: builders

const std::string kId = "intake-1";
const std::string kPatient = "+15550123456";

Call CallNo(int n) {
  Call c;
  c.ccid = "v3:ccid-" + std::to_string(n);
  c.leg = "leg-" + std::to_string(n);
  c.session = "session-" + std::to_string(n);
  return c;
}

core::Event AnsweredAt(int64_t occurred_at, const Call& call, const std::string& data_id = "wh-a") {
  return Webhook(occurred_at + 300, "call.answered", data_id, call, occurred_at);
}

// ---- match window and candidates -------------------------------------------------------------

struct WindowCase {
  int64_t answer_offset;  // occurred_at - created_at
  bool matches;
};

TEST(MatchTest, WindowEdges) {
  const int64_t window = 10 * kMin;
  for (WindowCase c : {WindowCase{0, true}, WindowCase{window, true}, WindowCase{window + 1, false},
                       WindowCase{-kMatchClockSkewMs, true},
                       WindowCase{-kMatchClockSkewMs - 1, false}}) {
    ProjectionHarness h;
    h.Apply(IntakeCreated(kT0, kId, kPatient));
    h.Apply(AnsweredAt(kT0 + c.answer_offset, CallNo(1)));
    EXPECT_EQ(h.Get(kId).state == State::kAnswered, c.matches) << c.answer_offset;
    EXPECT_EQ(h.projection.unmatched_total(), c.matches ? 0u : 1u);
  }
}

TEST(MatchTest, WindowComesFromServiceStarted) {
  ProjectionHarness h;
  h.Apply(ServiceStarted(kT0 - kMin, "manual", 2 * kMin));
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  h.Apply(AnsweredAt(kT0 + 2 * kMin + 1, CallNo(1)));
  EXPECT_EQ(h.Get(kId).state, State::kCreated);
  h.Apply(ServiceStarted(kT0 + 3 * kMin, "manual", 5 * kMin));
  h.Apply(AnsweredAt(kT0 + 2 * kMin + 1, CallNo(2)));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered);
  EXPECT_EQ(h.Get(kId).call_control_id, CallNo(2).ccid);
}

TEST(MatchTest, RecordedAtIsUsedWhenOccurredAtIsUnreadable) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  core::Event e = Webhook(kT0 + 11 * kMin, "call.answered", "wh-a", CallNo(1));
  std::string payload = e.payload;
  size_t at = payload.find("\"occurred_at\":\"");
  payload.replace(at + 15, 24, "not a time at all at all");
  e.payload = payload;
  h.Apply(e);
  EXPECT_EQ(h.Get(kId).state, State::kCreated) << "recorded_at 11 min after creation";
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
}

TEST(MatchTest, MostRecentUnboundIntakeWins) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "older", kPatient));
  h.Apply(IntakeCreated(kT0 + kMin, "newer", kPatient));
  h.Apply(IntakeCreated(kT0 + kMin, "other-phone", "+15550000000"));
  h.Apply(AnsweredAt(kT0 + 2 * kMin, CallNo(1), "wh-1"));
  EXPECT_EQ(h.Get("newer").call_control_id, CallNo(1).ccid);
  EXPECT_EQ(h.Get("older").state, State::kCreated);
  // The newer one is bound now: the next call takes the older one.
  h.Apply(AnsweredAt(kT0 + 3 * kMin, CallNo(2), "wh-2"));
  EXPECT_EQ(h.Get("older").call_control_id, CallNo(2).ccid);
  EXPECT_EQ(h.Get("newer").call_control_id, CallNo(1).ccid) << "never rebound";
  // Both bound: a third call matches nothing.
  h.Apply(AnsweredAt(kT0 + 4 * kMin, CallNo(3), "wh-3"));
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
  EXPECT_EQ(h.Get("other-phone").state, State::kCreated);
  EXPECT_EQ(h.projection.IntakeForCall(CallNo(1).leg), "newer");
  EXPECT_EQ(h.projection.IntakeForCall(CallNo(2).session), "older");
  EXPECT_FALSE(h.projection.IntakeForCall(CallNo(3).ccid).has_value());
}

TEST(MatchTest, SameMillisecondTieGoesToTheLaterCreation) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "zeta", kPatient));
  h.Apply(IntakeCreated(kT0, "alpha", kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  EXPECT_EQ(h.Get("alpha").state, State::kAnswered);
  EXPECT_EQ(h.Get("zeta").state, State::kCreated);
}

TEST(MatchTest, FailedIntakesAreNotCandidates) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  h.Apply(IntakeFailed(kT0 + kSec, kId, "gave_up", "cancelled"));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  EXPECT_EQ(h.Get(kId).state, State::kFailed);
  EXPECT_FALSE(h.Get(kId).call_bound());
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
}

TEST(MatchTest, ClientStateWinsOverPhoneAndWindow) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0 - 5 * 60 * kMin, "named", "+15557777777"));  // 5 h old, other phone
  h.Apply(IntakeCreated(kT0, "by-phone", kPatient));
  WebhookExtras x;
  x.client_state = ClientStateFor("named");
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-a", CallNo(1), kT0 + kMin, x));
  EXPECT_EQ(h.Get("named").state, State::kAnswered);
  EXPECT_EQ(h.Get("by-phone").state, State::kCreated);
}

TEST(MatchTest, ClientStateForAMissingIntakeFallsBackToThePhone) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  WebhookExtras x;
  x.client_state = ClientStateFor("ghost");
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-a", CallNo(1), kT0 + kMin, x));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered);
}

TEST(MatchTest, ClientStateOfABoundIntakeIsUnmatched) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "named", kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  h.Apply(IntakeCreated(kT0 + 2 * kMin, "spare", kPatient));
  WebhookExtras x;
  x.client_state = ClientStateFor("named");
  h.Apply(Webhook(kT0 + 3 * kMin, "call.answered", "wh-b", CallNo(2), kT0 + 3 * kMin, x));
  EXPECT_EQ(h.Get("named").call_control_id, CallNo(1).ccid);
  EXPECT_EQ(h.Get("spare").state, State::kCreated) << "an explicit name is not second-guessed";
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
}

TEST(MatchTest, DirectionPicksThePatientsNumber) {
  {
    ProjectionHarness h;  // the patient calls the clinic
    h.Apply(IntakeCreated(kT0, kId, kPatient));
    Call in = CallNo(1);
    in.direction = "incoming";
    in.from = "+1 555 012 3456";
    in.to = "+15550100200";
    h.Apply(Webhook(kT0 + 50 * kSec, "call.initiated", "wh-i", in));  // the only one with a direction
    h.Apply(AnsweredAt(kT0 + kMin, in));
    EXPECT_EQ(h.Get(kId).state, State::kAnswered);
    EXPECT_EQ(h.Get(kId).call_direction, "incoming");
    EXPECT_EQ(h.Get(kId).call_direction_source, "call.initiated");
  }
  {
    ProjectionHarness h;  // incoming, but the patient's number is only in `to`: not theirs
    h.Apply(IntakeCreated(kT0, kId, kPatient));
    Call in = CallNo(1);
    in.direction = "incoming";
    in.from = "+15559999999";
    in.to = kPatient;
    h.Apply(Webhook(kT0 + 50 * kSec, "call.initiated", "wh-i", in));
    h.Apply(AnsweredAt(kT0 + kMin, in));
    EXPECT_EQ(h.Get(kId).state, State::kCreated);
    EXPECT_EQ(h.projection.unmatched_total(), 2u) << "the answer and its initiated";
  }
}

// Real call.answered bodies carry no direction. Without a call.initiated the call is taken as
// outgoing (the flow callrec serves), and the intake says so.
TEST(MatchTest, WithoutCallInitiatedTheCallIsTakenAsOutgoing) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered);
  EXPECT_EQ(h.Get(kId).match, "phone");
  EXPECT_EQ(h.Get(kId).call_direction, "outgoing");
  EXPECT_EQ(h.Get(kId).call_direction_source, "assumed");
}

// Stores written when call.answered bodies carried a direction replay as before.
TEST(MatchTest, ALegacyAnsweredDirectionIsStillRead) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  Call in = CallNo(1);
  in.direction = "incoming";
  in.from = kPatient;
  in.to = "+15550100200";
  WebhookExtras x;
  x.legacy_answered_direction = true;
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-a", in, std::nullopt, x));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered);
  EXPECT_EQ(h.Get(kId).call_direction_source, "call.answered");
}

core::Event ServiceStartedWithHeader(int64_t at, std::string_view header) {
  core::Event e = ServiceStarted(at);
  e.payload.pop_back();
  e.payload += R"(,"match_header":")" + std::string(header) + R"("})";
  return e;
}

// README "How a call finds its intake": client_state, then the --match-header SIP header, then the phone.
TEST(MatchTest, TheSipHeaderNamesTheIntakeExactly) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "by-header", "+15550000077"));  // another number: the header decides
  h.Apply(IntakeCreated(kT0 + kSec, "by-phone", kPatient));
  WebhookExtras x;
  x.custom_headers = {{"X-Other", "by-phone"}, {"x-intake-id", "by-header"}};  // SIP: any case
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-a", CallNo(1), std::nullopt, x));
  EXPECT_EQ(h.Get("by-header").call_control_id, CallNo(1).ccid);
  EXPECT_EQ(h.Get("by-header").match, "sip_header");
  EXPECT_EQ(h.Get("by-phone").state, State::kCreated);
  // client_state wins over the header.
  x.client_state = ClientStateFor("by-phone");
  x.custom_headers = {{"X-Intake-Id", "nobody"}};
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-b", CallNo(2), std::nullopt, x));
  EXPECT_EQ(h.Get("by-phone").match, "client_state");
}

TEST(MatchTest, TheHeaderNameComesFromServiceStartedAndMayBeOnCallInitiated) {
  ProjectionHarness h;
  h.Apply(ServiceStartedWithHeader(kT0 - kMin, "X-Callrec-Intake"));
  h.Apply(IntakeCreated(kT0, "named", "+15550000077"));
  WebhookExtras default_header;
  default_header.custom_headers = {{"X-Intake-Id", "named"}};
  h.Apply(Webhook(kT0 + kMin, "call.answered", "wh-a", CallNo(1), std::nullopt, default_header));
  EXPECT_EQ(h.Get("named").state, State::kCreated) << "X-Intake-Id is not the configured header";
  WebhookExtras configured;
  configured.custom_headers = {{"X-Callrec-Intake", "named"}};
  h.Apply(Webhook(kT0 + kMin, "call.initiated", "wh-i", CallNo(2), std::nullopt, configured));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(2), "wh-b"));
  EXPECT_EQ(h.Get("named").call_control_id, CallNo(2).ccid);
  EXPECT_EQ(h.Get("named").match, "sip_header");
}

TEST(MatchTest, MoreThanOneCandidateIsAmbiguousAndSaysWhich) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, "first", kPatient));
  h.Apply(IntakeCreated(kT0 + kSec, "second", kPatient));
  h.Apply(IntakeCreated(kT0 + 2 * kSec, "third", kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  EXPECT_EQ(h.Get("third").match, "ambiguous") << "the newest wins, as before";
  EXPECT_EQ(h.Get("third").match_candidates, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(h.projection.ambiguous_total(), 1u);
  h.Flush();
  EXPECT_EQ(h.derived["projector/ambiguous_total"], "1");
  EXPECT_NE(h.derived["intake/third"].find(R"("match":"ambiguous","match_candidates":["first","second"])"),
            std::string::npos) << h.derived["intake/third"];
}

// ---- intakes created after their call was answered (issue 8 point 5) -------------------------

TEST(LateIntakeTest, BindsToTheAnsweredCallAndRecordStartIsDue) {
  ProjectionHarness h;
  h.Apply(AnsweredAt(kT0, CallNo(1)));  // seq 1: nobody's yet
  EXPECT_EQ(h.projection.unbound_call_count(), 1u);
  h.Apply(IntakeCreated(kT0 + 20 * kSec, kId, kPatient));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered) << "the actor sends record_start now";
  EXPECT_EQ(h.Get(kId).call_control_id, CallNo(1).ccid);
  EXPECT_EQ(h.Get(kId).match, "phone");
  EXPECT_EQ(h.Get(kId).updated_at_ms, kT0 + 20 * kSec);
  EXPECT_EQ(h.projection.unbound_call_count(), 0u);
  h.Apply(Webhook(kT0 + kMin, "call.hangup", "wh-h", CallNo(1)));
  EXPECT_EQ(h.Get(kId).state, State::kEnded);
  h.Flush();
  EXPECT_TRUE(h.HasLink(kId, 1));
}

TEST(LateIntakeTest, ANamedCallBindsItsIntakeWhateverTheNumber) {
  ProjectionHarness h;
  WebhookExtras x;
  x.client_state = ClientStateFor(kId);
  h.Apply(Webhook(kT0, "call.answered", "wh-a", CallNo(1), std::nullopt, x));
  h.Apply(IntakeCreated(kT0 + 5 * kMin, kId, "+15550000077"));
  EXPECT_EQ(h.Get(kId).call_control_id, CallNo(1).ccid);
  EXPECT_EQ(h.Get(kId).match, "client_state");
}

// By number, an ended call is not taken: the new intake waits for its own call (a retry).
TEST(LateIntakeTest, AnEndedCallIsNotTakenByNumber) {
  ProjectionHarness h;
  h.Apply(AnsweredAt(kT0, CallNo(1)));
  h.Apply(Webhook(kT0 + 30 * kSec, "call.hangup", "wh-h", CallNo(1)));
  h.Apply(IntakeCreated(kT0 + kMin, kId, kPatient));
  EXPECT_EQ(h.Get(kId).state, State::kCreated);
  h.Apply(AnsweredAt(kT0 + 2 * kMin, CallNo(2), "wh-a2"));
  EXPECT_EQ(h.Get(kId).call_control_id, CallNo(2).ccid);
}

// A call that named the intake exactly and ended before the intake existed: nothing was recorded.
TEST(LateIntakeTest, ANamedCallOverBeforeItsIntakeExistedFailsSayingSo) {
  ProjectionHarness h;
  WebhookExtras x;
  x.client_state = ClientStateFor(kId);
  h.Apply(Webhook(kT0, "call.answered", "wh-a", CallNo(1), std::nullopt, x));
  h.Apply(Webhook(kT0 + 30 * kSec, "call.hangup", "wh-h", CallNo(1)));
  h.Apply(IntakeCreated(kT0 + kMin, kId, kPatient));
  EXPECT_EQ(h.Get(kId).state, State::kFailed);
  EXPECT_EQ(h.Get(kId).failure_reason, FailureReason::kRecordStartFailed);
  EXPECT_NE(h.Get(kId).last_error.value_or("").find("before its intake was created"), std::string::npos);
  h.Flush();
  EXPECT_TRUE(h.HasLink(kId, 2)) << "the hangup is on its timeline";
}

TEST(LateIntakeTest, OutsideTheMatchWindowNothingBinds) {
  ProjectionHarness h;
  h.Apply(AnsweredAt(kT0, CallNo(1)));
  h.Apply(IntakeCreated(kT0 + 11 * kMin, kId, kPatient));
  EXPECT_EQ(h.Get(kId).state, State::kCreated);
  EXPECT_EQ(h.projection.unbound_call_count(), 0u) << "expired";
}

// Load() of a real store reading it back: ProjectionResidencyTest.MatchingAndWaitingCallsWorkFromAReloadedStore.
TEST(LateIntakeTest, AWaitingCallIsKeptInDerivedDataUntilAnIntakeTakesIt) {
  ProjectionHarness h;
  h.Apply(AnsweredAt(kT0, CallNo(1)));
  h.Flush();
  EXPECT_TRUE(h.HasKey("projector/waiting_call/" + SeqSuffix(1)));
  h.Apply(IntakeCreated(kT0 + kMin, kId, kPatient));
  EXPECT_EQ(h.Get(kId).state, State::kAnswered);
  h.Flush();
  EXPECT_FALSE(h.HasKey("projector/waiting_call/" + SeqSuffix(1)));
}

// ---- unmatched and orphans -------------------------------------------------------------------

TEST(UnmatchedTest, CountedVisibleAndSticky) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, "+15551111111"));
  h.Apply(Webhook(kT0 + 10 * kSec, "call.initiated", "wh-i", CallNo(1)));  // seq 2: orphan
  EXPECT_EQ(h.projection.orphan_count(), 1u);
  h.Flush();
  EXPECT_TRUE(h.HasKey("projector/orphan/" + SeqSuffix(2)));
  EXPECT_TRUE(h.Apply(AnsweredAt(kT0 + kMin, CallNo(1))).empty());  // seq 3: nobody's
  EXPECT_EQ(h.projection.unmatched_total(), 2u) << "the answer and its early initiated";
  EXPECT_EQ(h.projection.orphan_count(), 0u);
  h.Apply(Webhook(kT0 + 2 * kMin, "call.hangup", "wh-h", CallNo(1)));  // seq 4
  EXPECT_EQ(h.projection.unmatched_total(), 3u);
  EXPECT_EQ(h.projection.orphan_count(), 0u) << "a known-unmatched call's webhooks are not kept";
  h.Flush();
  EXPECT_EQ(h.derived["projector/unmatched_total"], "3");
  EXPECT_FALSE(h.HasKey("projector/orphan/" + SeqSuffix(2)));
  for (uint64_t seq : {2, 3, 4}) EXPECT_TRUE(h.HasKey("projector/unmatched/" + SeqSuffix(seq)));
  EXPECT_NE(h.derived["projector/unmatched/" + SeqSuffix(3)].find("no intake for the number"), std::string::npos);
  EXPECT_EQ(h.Get(kId).state, State::kCreated);
  EXPECT_EQ(h.derived.count("link/" + kId + "/" + SeqSuffix(3)), 0u);
}

TEST(UnmatchedTest, UnreadableWebhooksAreCounted) {
  ProjectionHarness h;
  h.Apply(MakeEvent("telnyx.webhook", "telnyx.webhook", "", kT0, "not json"));
  h.Apply(MakeEvent("telnyx.webhook", "telnyx.webhook", "", kT0, R"({"data":{"id":"x"}})"));
  EXPECT_EQ(h.projection.unmatched_total(), 2u);
}

TEST(UnmatchedTest, OrphansExpireAfterADay) {
  ProjectionHarness h;
  h.Apply(Webhook(kT0, "call.hangup", "wh-h", CallNo(1)));
  h.Apply(Webhook(kT0 + 24 * 60 * kMin, "call.hangup", "wh-h2", CallNo(2)));
  EXPECT_EQ(h.projection.orphan_count(), 2u) << "exactly a day old is still kept";
  h.Apply(Webhook(kT0 + 24 * 60 * kMin + 1, "call.hangup", "wh-h3", CallNo(3)));
  EXPECT_EQ(h.projection.orphan_count(), 2u);
  EXPECT_EQ(h.projection.unmatched_total(), 1u);
  h.Flush();
  EXPECT_FALSE(h.HasKey("projector/orphan/" + SeqSuffix(1)));
  EXPECT_TRUE(h.HasKey("projector/unmatched/" + SeqSuffix(1)));
}

TEST(UnmatchedTest, UnknownWebhookTypesAreLinkedButChangeNothing) {
  ProjectionHarness h;
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  std::string before = IntakeToJson(h.Get(kId));
  EXPECT_TRUE(h.Apply(Webhook(kT0 + 2 * kMin, "call.playback.started", "wh-p", CallNo(1))).empty());
  EXPECT_EQ(IntakeToJson(h.Get(kId)), before);
  h.Apply(Webhook(kT0 + 2 * kMin, "call.playback.started", "wh-q", CallNo(9)));  // unknown call
  EXPECT_EQ(h.projection.unmatched_total(), 0u);
  EXPECT_EQ(h.projection.orphan_count(), 0u);
  h.Flush();
  EXPECT_TRUE(h.HasLink(kId, 3));
  EXPECT_FALSE(h.HasLink(kId, 4));
}

// ---- facts about a bound call ----------------------------------------------------------------

class BoundCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h.Apply(IntakeCreated(kT0, kId, kPatient));
    h.Apply(AnsweredAt(kT0 + 40 * kSec, call));
    h.Apply(RecordStart(kT0 + 41 * kSec, kId, "ok"));
  }
  core::Event Saved(const std::string& data_id, const Call& c, const std::string& url) {
    WebhookExtras x;
    x.recording_url = url;
    x.recording_started_at = kT0 + 41 * kSec;
    x.recording_ended_at = kT0 + 5 * kMin;
    return Webhook(kT0 + 5 * kMin + 2 * kSec, "call.recording.saved", data_id, c, std::nullopt, x);
  }
  const IntakeState& s() { return h.Get(kId); }
  ProjectionHarness h;
  Call call = CallNo(1);
};

TEST_F(BoundCallTest, RecordingSavedBeforeHangupFetchesAndHangupDoesNotRegress) {
  h.Apply(Saved("wh-s", call, RecordingUrl(kId)));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_EQ(s().recording_id, "rec-1");
  EXPECT_EQ(s().recording_duration_ms, 259000) << "integer milliseconds (duration_millis)";
  EXPECT_EQ(s().recording_started_at_ms, kT0 + 41 * kSec) << "record_start ok's time is kept";
  h.Apply(Webhook(kT0 + 5 * kMin + 3 * kSec, "call.hangup", "wh-h", call, kT0 + 5 * kMin));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_EQ(s().hangup_at_ms, kT0 + 5 * kMin);
}

TEST_F(BoundCallTest, RecordingOfAnotherIntakesFileIsIgnored) {
  h.Apply(Webhook(kT0 + 5 * kMin, "call.hangup", "wh-h", call));
  EXPECT_EQ(h.Apply(Saved("wh-s1", call, RecordingUrl("intake-2"))), std::vector<std::string>{kId});
  EXPECT_EQ(s().state, State::kEnded);
  EXPECT_FALSE(s().recording_id.has_value());
  ASSERT_TRUE(s().last_error.has_value());
  EXPECT_NE(s().last_error->find("intake-2-1795187352.wav"), std::string::npos) << *s().last_error;
  // A prefix of the id is not the id: "intake-1" must not accept "intake-10-...".
  h.Apply(Saved("wh-s2", call, RecordingUrl("intake-10")));
  EXPECT_FALSE(s().recording_id.has_value());
  h.Apply(Saved("wh-s3", call, RecordingUrl(kId)));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_FALSE(s().last_error.has_value());
}

TEST_F(BoundCallTest, RecordingWithForeignCallIdsIsIgnored) {
  Call other_leg = call;
  other_leg.leg = "leg-77";
  h.Apply(Saved("wh-s1", other_leg, RecordingUrl(kId)));
  EXPECT_FALSE(s().recording_id.has_value());
  Call other_call = CallNo(2);
  other_call.session = call.session;  // another leg of the same session
  h.Apply(Saved("wh-s2", other_call, RecordingUrl(kId)));
  EXPECT_FALSE(s().recording_id.has_value());
  EXPECT_EQ(s().state, State::kRecording);
  h.Apply(Webhook(kT0 + 6 * kMin, "call.hangup", "wh-h", other_call));
  EXPECT_EQ(s().state, State::kRecording) << "the other leg hanging up does not end our call";
}

// Telnyx does not promise a recording's call_control_id is the webhooks' string (a documented
// example carries the leg UUID): matching leg and session make it this call's.
TEST_F(BoundCallTest, RecordingSavedWithTheLegAsControlIdIsThisCallsByLegAndSession) {
  Call as_reported = call;
  as_reported.ccid = call.leg;
  h.Apply(Saved("wh-s", as_reported, RecordingUrl(kId)));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_EQ(s().recording_id, "rec-1");
}

TEST_F(BoundCallTest, RecordingErrorIsNotedAndPollingGoesOn) {
  h.Apply(Webhook(kT0 + 5 * kMin, "call.hangup", "wh-h", call));
  h.Apply(FetchScheduled(kT0 + 5 * kMin + 1, kId, 1, 0, kT0 + 7 * kMin));
  h.Apply(Webhook(kT0 + 5 * kMin + 2, "call.recording.error", "wh-e", call));
  EXPECT_EQ(s().state, State::kEnded);
  EXPECT_EQ(s().last_error, "call.recording.error: Internal server error");
  EXPECT_EQ(s().next_attempt_at_ms, kT0 + 7 * kMin);
}

TEST_F(BoundCallTest, LateRecordingSavedRescuesANotFoundFailure) {
  h.Apply(Webhook(kT0 + 5 * kMin, "call.hangup", "wh-h", call));
  h.Apply(IntakeFailed(kT0 + 20 * kMin, kId, "recording_not_found", "10 queries"));
  h.Apply(Saved("wh-s", call, RecordingUrl(kId)));
  EXPECT_EQ(s().state, State::kFetched);
  EXPECT_FALSE(s().failure_reason.has_value());
}

TEST(AutoModeTest, SessionVerifiesTheRecordingWithoutAFileName) {
  ProjectionHarness h;
  h.Apply(ServiceStarted(kT0 - kMin, "auto"));
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  h.Apply(AnsweredAt(kT0 + kMin, CallNo(1)));
  WebhookExtras x;
  x.recording_url = RecordingUrl("leg-1");  // Telnyx's default name: the leg id
  Call wrong_session = CallNo(1);
  wrong_session.session = "session-9";
  h.Apply(Webhook(kT0 + 3 * kMin, "call.recording.saved", "wh-s1", wrong_session, std::nullopt, x));
  EXPECT_FALSE(h.Get(kId).recording_id.has_value());
  h.Apply(Webhook(kT0 + 3 * kMin, "call.recording.saved", "wh-s2", CallNo(1), std::nullopt, x));
  EXPECT_EQ(h.Get(kId).state, State::kFetched);
}

// ---- every delivery order --------------------------------------------------------------------

struct Delivery {
  char kind;  // 'A'nswered, 'H'angup, 'S'aved
  int copy;   // duplicates carry a different data.id
};

core::Event Build(const Delivery& d, int64_t recorded_at) {
  Call call = CallNo(1);
  std::string data_id = std::string("wh-") + d.kind + std::to_string(d.copy);
  if (d.kind == 'A') return Webhook(recorded_at, "call.answered", data_id, call, kT0 + 40 * kSec);
  if (d.kind == 'H') return Webhook(recorded_at, "call.hangup", data_id, call, kT0 + 5 * kMin);
  WebhookExtras x;
  x.recording_url = RecordingUrl(kId);
  x.recording_started_at = kT0 + 41 * kSec;
  x.recording_ended_at = kT0 + 5 * kMin;
  return Webhook(recorded_at, "call.recording.saved", data_id, call, kT0 + 5 * kMin + 2 * kSec, x);
}

// Applies `order` (seq 2.. after the intake) and returns the harness.
ProjectionHarness Deliver(const std::vector<Delivery>& order, std::string_view mode) {
  ProjectionHarness h;
  h.Apply(ServiceStarted(kT0 - kMin, mode));
  h.Apply(IntakeCreated(kT0, kId, kPatient));
  int64_t at = kT0 + 6 * kMin;
  for (const Delivery& d : order) h.Apply(Build(d, at += kSec));
  return h;
}

std::string Describe(const std::vector<Delivery>& order) {
  std::string s;
  for (const Delivery& d : order) s += std::string(1, d.kind) + std::to_string(d.copy) + " ";
  return s;
}

TEST(OrderingTest, AnsweredHangupSavedConvergeInEveryOrderWithDuplicates) {
  std::vector<Delivery> all = {{'A', 1}, {'A', 2}, {'H', 1}, {'H', 2}, {'S', 1}, {'S', 2}};
  for (int dup_mask = 0; dup_mask < 8; ++dup_mask) {  // which kinds are delivered twice
    std::vector<Delivery> items;
    for (const Delivery& d : all) {
      int bit = d.kind == 'A' ? 1 : d.kind == 'H' ? 2 : 4;
      if (d.copy == 1 || (dup_mask & bit)) items.push_back(d);
    }
    auto less = [](const Delivery& a, const Delivery& b) {
      return std::pair(a.kind, a.copy) < std::pair(b.kind, b.copy);
    };
    std::sort(items.begin(), items.end(), less);
    do {
      ProjectionHarness h = Deliver(items, "manual");
      const IntakeState& s = h.Get(kId);
      SCOPED_TRACE(Describe(items));
      EXPECT_EQ(s.state, State::kFetched);
      EXPECT_EQ(s.recording_id, "rec-1");
      EXPECT_EQ(s.recording_url_telnyx, RecordingUrl(kId));
      EXPECT_EQ(s.recording_duration_ms, 259000);
      EXPECT_EQ(s.recording_started_at_ms, kT0 + 41 * kSec);
      EXPECT_EQ(s.answered_at_ms, kT0 + 40 * kSec);
      EXPECT_EQ(s.hangup_at_ms, kT0 + 5 * kMin);
      EXPECT_EQ(s.call_control_id, CallNo(1).ccid);
      EXPECT_FALSE(s.failure_reason.has_value());
      EXPECT_FALSE(s.last_error.has_value());
      EXPECT_FALSE(s.next_attempt_at_ms.has_value());
      EXPECT_EQ(h.projection.orphan_count(), 0u);
      EXPECT_EQ(h.projection.unmatched_total(), 0u);
      h.Flush();
      for (uint64_t seq = 3; seq <= h.seq(); ++seq) EXPECT_TRUE(h.HasLink(kId, seq)) << seq;
    } while (std::next_permutation(items.begin(), items.end(), less));
  }
}

TEST(OrderingTest, WithoutARecordingTheOrderOfAnswerAndHangupDecides) {
  std::vector<Delivery> items = {{'A', 1}, {'A', 2}, {'H', 1}, {'H', 2}};
  auto less = [](const Delivery& a, const Delivery& b) {
    return std::pair(a.kind, a.copy) < std::pair(b.kind, b.copy);
  };
  do {
    SCOPED_TRACE(Describe(items));
    bool answer_first = items.front().kind == 'A';
    ProjectionHarness manual = Deliver(items, "manual");
    const IntakeState& m = manual.Get(kId);
    if (answer_first) {
      EXPECT_EQ(m.state, State::kEnded) << "polling will look for a recording";
    } else {
      EXPECT_EQ(m.state, State::kFailed);
      EXPECT_EQ(m.failure_reason, FailureReason::kRecordStartFailed);
      ASSERT_TRUE(m.last_error.has_value());
      EXPECT_NE(m.last_error->find("before recording could start"), std::string::npos);
    }
    EXPECT_EQ(m.hangup_at_ms, kT0 + 5 * kMin);
    ProjectionHarness autom = Deliver(items, "auto");
    EXPECT_EQ(autom.Get(kId).state, State::kEnded) << "Telnyx recorded by itself";
  } while (std::next_permutation(items.begin(), items.end(), less));
}

}  // namespace
}  // namespace callrec::projector

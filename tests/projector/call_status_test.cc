// The call-status check below HTTP: TelnyxClient::GetCallStatus reads Telnyx's Call object, and
// StepRunner turns the answer into events (alive -> ask again later; over -> call.presumed_ended;
// no usable answer -> backoff, never "over").
#include <gtest/gtest.h>

#include "core/json.h"
#include "core/time_format.h"
#include "fakes/manual_clock.h"
#include "fakes/scripted_transport.h"
#include "projector/actor/step_runner.h"
#include "projector/clients/telnyx_client.h"

namespace callrec::projector {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;
using testing::ScriptedTransport;

constexpr char kCall[] = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";

std::string CallBody(bool alive, bool with_end = false) {
  return std::string(R"({"data":{"call_control_id":")") + kCall +
         R"(","call_leg_id":"leg-1","call_session_id":"session-1","client_state":null,"is_alive":)" +
         (alive ? "true" : "false") + R"(,"call_duration":50,"start_time":"2026-11-20T15:00:00.000Z",)" +
         (with_end ? R"("end_time":"2026-11-20T15:00:50.000Z",)" : "") + R"("record_type":"call"}})";
}

class CallStatusTest : public ::testing::Test {
 protected:
  CallStatusTest()
      : telnyx_(api_, clock_, "https://api.telnyx.test", "KEY"),
        runner_(config_, clock_, telnyx_, media_, nullptr, random_) {
    config_.max_call_duration = 4h;
    intake_.id = "intake-1";
    intake_.state = State::kRecording;
    intake_.call_control_id = kCall;
    intake_.answered_at_ms = ManualClock::kStartMillis - 4 * 3600 * 1000;
  }
  std::vector<core::Event> Run() { return runner_.Run(intake_, Step{StepKind::kCallStatus, 0, "", ""}); }
  std::string Field(const core::Event& e, std::string_view pointer) {
    simdjson::dom::parser p;
    auto root = core::ParseJson(p, e.payload);
    if (!root.ok()) return "<bad json>";
    if (auto s = core::JsonString(*root, pointer)) return std::string(*s);
    if (auto i = core::JsonInt(*root, pointer)) return std::to_string(*i);
    return "null";
  }

  ManualClock clock_;
  ScriptedTransport api_, media_;
  PipelineConfig config_;
  RandomSource random_ = [] { return uint64_t(1234); };
  TelnyxClient telnyx_;
  StepRunner runner_;
  IntakeState intake_;
};

TEST_F(CallStatusTest, ClientReadsIsAliveAndEncodesTheId) {
  api_.On("GET", "/v2/calls/", ScriptedTransport::Json(200, CallBody(true)));
  CallStatusLookup r = telnyx_.GetCallStatus(kCall);
  ASSERT_TRUE(r.api.ok()) << r.api.error;
  EXPECT_EQ(r.is_alive, true);
  EXPECT_EQ(r.call_duration_s, 50);
  ASSERT_EQ(api_.requests().size(), 1u);
  EXPECT_EQ(api_.requests()[0].url,
            "https://api.telnyx.test/v2/calls/v3%3AMdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg");
}

TEST_F(CallStatusTest, AnAnswerWithoutIsAliveIsTransient) {
  api_.On("GET", "/v2/calls/", ScriptedTransport::Json(200, R"({"data":{"record_type":"call"}})"));
  CallStatusLookup r = telnyx_.GetCallStatus(kCall);
  EXPECT_EQ(r.api.outcome, ApiOutcome::kTransient);
  EXPECT_FALSE(r.is_alive.has_value());
}

TEST_F(CallStatusTest, AliveIsAskedAgainAfterAQuarterOfTheLimit) {
  api_.On("GET", "/v2/calls/", ScriptedTransport::Json(200, CallBody(true)));
  std::vector<core::Event> out = Run();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, "telnyx.call_status");
  EXPECT_EQ(Field(out[0], "/retry_at"), core::FormatRfc3339Millis(clock_.WallMillis() + 3600 * 1000));
}

TEST_F(CallStatusTest, NotAliveOr404Or422IsPresumedEnded) {
  struct Case {
    int status;
    std::string body;
    std::string reason;
    std::string ended_at;
  } cases[] = {
      {200, CallBody(false, true), "not_alive", "2026-11-20T15:00:50.000Z"},
      {404, R"({"errors":[{"code":"10005","title":"Resource not found"}]})", "not_found",
       core::FormatRfc3339Millis(ManualClock::kStartMillis)},
      {422, R"({"errors":[{"code":"90015","title":"Invalid Call Control ID"}]})", "call_invalid",
       core::FormatRfc3339Millis(ManualClock::kStartMillis)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    api_.On("GET", "/v2/calls/", ScriptedTransport::Json(c.status, c.body));
    std::vector<core::Event> out = Run();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].type, "telnyx.call_status");
    EXPECT_EQ(Field(out[0], "/retry_at"), "null");
    EXPECT_EQ(out[1].type, "call.presumed_ended");
    EXPECT_EQ(Field(out[1], "/reason"), c.reason);
    EXPECT_EQ(Field(out[1], "/ended_at"), c.ended_at);
    EXPECT_EQ(Field(out[1], "/checks"), "1");
  }
}

TEST_F(CallStatusTest, TroubleBacksOffAndNeverEndsTheCall) {
  api_.On("GET", "/v2/calls/", ScriptedTransport::Json(503, R"({"errors":[{"code":"10007"}]})"))
      .On("GET", "/v2/calls/", ScriptedTransport::NoAnswer())
      .On("GET", "/v2/calls/", ScriptedTransport::Json(429, "", {{"Retry-After", "120"}}))
      .On("GET", "/v2/calls/", ScriptedTransport::Json(401, R"({"errors":[{"code":"10009"}]})"));
  for (int i = 0; i < 4; ++i) {
    std::vector<core::Event> out = Run();
    ASSERT_EQ(out.size(), 1u) << i;
    EXPECT_EQ(out[0].type, "telnyx.call_status");
    auto retry = core::ParseRfc3339Millis(Field(out[0], "/retry_at"));
    ASSERT_TRUE(retry.ok()) << i;
    EXPECT_GT(*retry, clock_.WallMillis()) << i;
    if (i == 2) {
      EXPECT_GE(*retry, clock_.WallMillis() + 120'000) << "Retry-After is honoured";
    }
  }
}

}  // namespace
}  // namespace callrec::projector

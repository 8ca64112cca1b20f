// history_gen.h — a synthetic but realistic callrec event log, for history_bench.
//
// Intake lifecycles overlap in time as they do in a clinic (a new intake every few seconds, each
// call lasting minutes), and every event has the shape and size the live service appends:
// Telnyx webhook bodies modelled on /work/shared/telnyx/*.json (~700-1000 B), API envelopes
// embedding the response, scheduler decisions. The mix (per intake):
//   73%  stored: answered, record_start, hangup; then either call.recording.saved (60%) or
//        polling (a foreign recording answered first in 30% of those), matched; a fresh
//        download URL, sometimes (5%) a transient storage failure, then stored
//   8%   record_start refused (422 "Call has already ended") -> intake.failed
//   7%   never found: three empty polls -> intake.failed recording_not_found
//   12%  in progress: no call yet (4%), ended with a fetch scheduled (4%), fetched with the
//        upload still to come (4%)
//   5%   come with an extra call to a number no intake has (3 unmatched webhooks)
//   3%   of webhooks delivered twice (the store absorbs the duplicate: no event)
// The log is cut at the requested size, so the last few minutes' lifecycles are unfinished.
// Deterministic for a seed. Not thread-safe; one generator per thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/json.h"
#include "core/time_format.h"

namespace callrec::bench {

class HistoryGenerator {
 public:
  explicit HistoryGenerator(uint64_t seed) : rng_(seed) {}

  // Calls `emit` with events in recorded_at order until at least `target` have been emitted
  // (duplicates, which the store will skip, are emitted too but not counted).
  void Generate(uint64_t target, const std::function<void(core::Event)>& emit) {
    int64_t start = 1795186800000;  // 2026-11-20T15:00:00Z
    emit(ServiceStarted(start - 60'000));
    uint64_t emitted = 1;
    int64_t next_intake = start;
    while (emitted < target) {
      while (!pending_.empty() && pending_.top().at <= next_intake && emitted < target) {
        Planned p = pending_.top();
        pending_.pop();
        if (!p.duplicate) ++emitted;
        emit(std::move(p.event));
      }
      PlanLifecycle(next_intake);
      next_intake += Between(1'000, 6'000);
    }
  }

  const std::vector<std::string>& intake_ids() const { return intake_ids_; }

 private:
  struct Planned {
    int64_t at;
    uint64_t order;  // ties keep planning order
    bool duplicate;
    core::Event event;
    bool operator<(const Planned& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  struct CallIds {
    std::string ccid, leg, session, patient, clinic = "+15550100200";
  };

  int64_t Between(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string Hex(int n) {
    static const char* kDigits = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(kDigits[rng_() & 15]);
    return s;
  }
  std::string Uuid() { return Hex(8) + "-" + Hex(4) + "-4" + Hex(3) + "-a" + Hex(3) + "-" + Hex(12); }
  std::string CallControlId() {
    static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string s = "v3:";
    for (int i = 0; i < 54; ++i) s.push_back(kB64[rng_() & 63]);
    return s;
  }
  std::string Phone() { return "+1555" + std::to_string(Between(1'000'000, 9'999'999)); }
  static std::string Time(int64_t ms) { return core::FormatRfc3339Millis(ms); }

  void Plan(int64_t at, core::Event e, bool may_duplicate = false) {
    e.recorded_at_ms = at;
    if (may_duplicate && Chance(0.03)) pending_.push({at + Between(200, 5'000), order_++, true, e});
    pending_.push({at, order_++, false, std::move(e)});
  }

  static core::Event Make(std::string type, std::string_view source, std::string intake_id, std::string payload) {
    core::Event e;
    e.type = std::move(type);
    e.source = std::string(source);
    e.intake_id = std::move(intake_id);
    e.payload = std::move(payload);
    return e;
  }

  core::Event ServiceStarted(int64_t at) {
    core::Event e = Make("service.started", core::source::kOperator, "",
                         R"({"version":"0.1.0","record_mode":"manual","match_window_ms":600000,)"
                         R"("fetch_delay_ms":120000,"fetch_interval_ms":60000,"fetch_max_attempts":10,)"
                         R"("storage":"fs","delete_after_upload":false})");
    e.recorded_at_ms = at;
    return e;
  }

  // A Telnyx v2 webhook body shaped like the samples (pretty-printed as Telnyx sends them).
  core::Event Webhook(int64_t occurred, std::string_view type, const CallIds& c, std::string_view extra) {
    std::string id = Uuid();
    std::string body = "{\n  \"data\": {\n    \"event_type\": \"" + std::string(type) + "\",\n    \"id\": \"" + id +
                       "\",\n    \"occurred_at\": \"" + Time(occurred) + "\",\n    \"payload\": {\n" +
                       "      \"call_control_id\": \"" + c.ccid + "\",\n      \"call_leg_id\": \"" + c.leg +
                       "\",\n      \"call_session_id\": \"" + c.session +
                       "\",\n      \"client_state\": null,\n      \"connection_id\": \"1684641123236054244\",\n" +
                       std::string(extra) + "    },\n    \"record_type\": \"event\"\n  },\n" +
                       "  \"meta\": { \"attempt\": 1, \"delivered_to\": "
                       "\"https://example.org/api/webhooks/telnyx/call-events\" }\n}\n";
    core::Event e = Make("telnyx.webhook", core::source::kTelnyxWebhook, "", std::move(body));
    e.idempotency_key = "telnyx:" + id;
    return e;
  }
  std::string Parties(const CallIds& c, std::string_view state, int64_t started) {
    return "      \"direction\": \"outgoing\",\n      \"from\": \"" + c.clinic + "\",\n      \"to\": \"" +
           c.patient + "\",\n      \"start_time\": \"" + Time(started) + "\",\n      \"state\": \"" +
           std::string(state) + "\"\n";
  }

  std::string Envelope(std::string_view method, std::string_view path, int status, std::string_view outcome,
                       std::string_view body, int64_t duration_ms) {
    core::JsonWriter w;
    w.BeginObject();
    w.Key("request").BeginObject().Key("method").String(method).Key("path").String(path).EndObject();
    w.Key("status").Int(status).Key("duration_ms").Int(duration_ms).Key("outcome").String(outcome);
    w.Key("error").Null().Key("retry_at").Null();
    w.Key("body").Payload(body);
    w.EndObject();
    return w.Take();
  }

  std::string RecordingJson(const std::string& rec_id, const CallIds& c, const std::string& file_stem,
                            int64_t started, int64_t ended) {
    return "{\"id\":\"" + rec_id + "\",\"record_type\":\"recording\",\"call_control_id\":\"" + c.ccid +
           "\",\"call_leg_id\":\"" + c.leg + "\",\"call_session_id\":\"" + c.session +
           "\",\"conference_id\":null,\"channels\":\"dual\",\"source\":\"call\",\"status\":\"completed\","
           "\"duration_millis\":" + std::to_string(ended - started) + ",\"recording_started_at\":\"" +
           Time(started) + "\",\"recording_ended_at\":\"" + Time(ended) + "\",\"created_at\":\"" +
           Time(ended + 900) + "\",\"download_urls\":{\"wav\":\"" + DownloadUrl(file_stem, ended) + "\"}}";
  }
  static std::string DownloadUrl(const std::string& stem, int64_t at) {
    return "https://s3.amazonaws.com/telephony-recorder-prod/acct-2f1c/2026-11-20/" + stem + "-" +
           std::to_string(at / 1000) + ".wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-Signature=" +
           std::string(64, 'e');
  }

  core::Event RecordingsList(const std::string& id, const CallIds& c, const std::string& items,
                             int candidates, const std::string& verified_id) {
    std::string body = "{\"data\":[" + items + "],\"meta\":{\"page_number\":1,\"page_size\":20,\"total_pages\":1,"
                       "\"total_results\":" + std::to_string(candidates) + "}}";
    std::string env = Envelope("GET", "/v2/recordings?filter[call_leg_id]=" + c.leg, 200,
                               verified_id.empty() ? "not_found" : "ok", body, Between(40, 300));
    env.pop_back();
    env += ",\"candidates\":" + std::to_string(candidates) + ",\"verified\":" + (verified_id.empty() ? "0" : "1") +
           ",\"verified_ids\":[" + (verified_id.empty() ? "" : "\"" + verified_id + "\"") + "]}";
    return Make("telnyx.recordings_list", core::source::kTelnyxApi, id, std::move(env));
  }

  core::Event FetchScheduled(const std::string& id, int query, int not_found, int64_t due, const char* reason) {
    return Make("recording.fetch_scheduled", core::source::kScheduler, id,
                "{\"query\":" + std::to_string(query) + ",\"fetch_attempts\":" + std::to_string(not_found) +
                    ",\"due_at\":\"" + Time(due) + "\",\"reason\":\"" + reason + "\"}");
  }

  core::Event Upload(const std::string& id, bool ok, int attempt, int64_t retry_at) {
    std::string sha = Hex(64);
    std::string p = "{\"outcome\":\"" + std::string(ok ? "ok" : "transient") + "\",\"stage\":\"upload\",\"bytes\":" +
                    std::to_string(Between(400'000, 9'000'000)) + ",\"sha256\":" +
                    (ok ? "\"" + sha + "\"" : "null") + ",\"format\":\"wav\",\"location\":\"file:///var/lib/callrec/"
                    "recordings/" + id + "/recording.wav\",\"status\":" + (ok ? "200" : "503") +
                    ",\"duration_ms\":" + std::to_string(Between(20, 900)) + ",\"error\":" +
                    (ok ? "null" : "\"503 Service Unavailable\"") + ",\"retry_at\":" +
                    (ok ? "null" : "\"" + Time(retry_at) + "\"") + ",\"attempt\":" + std::to_string(attempt) + "}";
    return Make("storage.upload", core::source::kStorage, id, std::move(p));
  }

  // Plans one intake (and sometimes a stray call) starting at `t0`.
  void PlanLifecycle(int64_t t0) {
    std::string id = "intake_" + Hex(12);
    intake_ids_.push_back(id);
    CallIds c{CallControlId(), Uuid(), Uuid(), Phone()};
    core::Event created = Make("intake.created", core::source::kApi, id,
                               "{\"id\":\"" + id + "\",\"patient_phone\":\"" + c.patient + "\",\"patient_id\":\"pat-" +
                                   Hex(8) + "\",\"metadata\":{\"clinic\":\"north\",\"form\":\"intake-v2\"}}");
    created.idempotency_key = "intake.created:" + id;
    Plan(t0, std::move(created));
    if (Chance(0.05)) PlanStrayCall(t0 + Between(0, 30'000));
    int64_t kind = Between(0, 99);
    if (kind < 4) return;  // still waiting for the call
    int64_t init = t0 + Between(5'000, 60'000);
    Plan(init + 150, Webhook(init, "call.initiated", c, Parties(c, "bridging", init)), true);
    int64_t answered = init + Between(3'000, 20'000);
    Plan(answered + 120, Webhook(answered, "call.answered", c, Parties(c, "answered", init)), true);
    std::string rs_path = "/v2/calls/" + c.ccid + "/actions/record_start";
    if (kind < 12) {  // the callee hung up before record_start ran
      Plan(answered + 400, Make("telnyx.record_start", core::source::kTelnyxApi, id,
                                Envelope("POST", rs_path, 422, "failed",
                                         R"({"errors":[{"code":"90018","title":"Call has already ended",)"
                                         R"("detail":"This call is no longer active and can't receive commands."}]})",
                                         Between(40, 200))));
      Plan(answered + 420, Make("intake.failed", core::source::kScheduler, id,
                                R"j({"reason":"record_start_failed","error":"Call has already ended (90018)"})j"));
      return;
    }
    Plan(answered + 300, Make("telnyx.record_start", core::source::kTelnyxApi, id,
                              Envelope("POST", rs_path, 200, "ok", R"({"data":{"result":"ok"}})", Between(40, 200))));
    int64_t hangup = answered + Between(60'000, 900'000);
    Plan(hangup + 200, Webhook(hangup, "call.hangup", c,
                               "      \"from\": \"" + c.clinic + "\",\n      \"to\": \"" + c.patient +
                                   "\",\n      \"hangup_cause\": \"normal_clearing\",\n      \"hangup_source\": "
                                   "\"callee\",\n      \"sip_hangup_cause\": \"200\",\n      \"state\": \"hangup\"\n"),
         true);
    PlanRecording(id, c, kind, answered, hangup);
  }

  void PlanRecording(const std::string& id, const CallIds& c, int64_t kind, int64_t answered, int64_t hangup) {
    int64_t due = hangup + 120'000;
    Plan(hangup + 250, FetchScheduled(id, 1, 0, due, "hangup"));
    if (kind < 16) return;  // the first fetch is still ahead
    std::string rec_id = Uuid();
    int64_t rec_start = answered + 500;
    if (kind < 23) {  // never appears: three empty answers, then give up
      for (int q = 1; q <= 3; ++q) {
        Plan(due, RecordingsList(id, c, "", 0, ""));
        if (q < 3) {
          Plan(due + 50, FetchScheduled(id, q + 1, q, due + 60'000, "not_found"));
          due += 60'000;
        }
      }
      Plan(due + 60, Make("intake.failed", core::source::kScheduler, id,
                          R"({"reason":"recording_not_found","error":"no recording of this call after 3 queries"})"));
      return;
    }
    int64_t found_at;
    if (Chance(0.6)) {  // call.recording.saved arrives first
      found_at = hangup + Between(1'000, 8'000);
      std::string url = DownloadUrl(id, hangup);
      Plan(found_at, Webhook(found_at, "call.recording.saved", c,
                             "      \"channels\": \"dual\",\n      \"recording_id\": \"" + rec_id +
                                 "\",\n      \"recording_started_at\": \"" + Time(rec_start) +
                                 "\",\n      \"recording_ended_at\": \"" + Time(hangup) +
                                 "\",\n      \"recording_urls\": { \"wav\": \"" + url +
                                 "\" },\n      \"public_recording_urls\": {}\n"),
           true);
    } else {
      if (Chance(0.3)) {  // first answer: only other calls' recordings on this leg filter
        CallIds other{CallControlId(), c.leg, Uuid(), c.patient};
        Plan(due, RecordingsList(id, c, RecordingJson(Uuid(), other, "intake_other", rec_start - 9'000'000,
                                                           rec_start - 8'000'000), 1, ""));
        Plan(due + 50, FetchScheduled(id, 2, 1, due + 60'000, "not_found"));
        due += 60'000;
      }
      std::string item = RecordingJson(rec_id, c, id, rec_start, hangup);
      Plan(due, RecordingsList(id, c, item, 1, rec_id));
      found_at = due + 20;
      Plan(found_at, Make("recording.matched", core::source::kScheduler, id,
                          "{\"recording_id\":\"" + rec_id + "\",\"recording_url_telnyx\":\"" + DownloadUrl(id, hangup) +
                              "\",\"recording_duration\":" + std::to_string(double(hangup - rec_start) / 1000) +
                              ",\"recording_created_at\":\"" + Time(hangup + 900) +
                              "\",\"channels\":\"dual\",\"verified_ids\":[\"" + rec_id + "\"],\"via\":\"poll\"}"));
    }
    if (kind < 27) return;  // fetched, upload still to come
    int64_t at = found_at + 200;
    Plan(at, Make("telnyx.recording_get", core::source::kTelnyxApi, id,
                  Envelope("GET", "/v2/recordings/" + rec_id, 200, "ok",
                           "{\"data\":" + RecordingJson(rec_id, c, id, rec_start, hangup) + "}", Between(40, 200))));
    int attempt = 1;
    if (Chance(0.05)) {
      Plan(at + 900, Upload(id, false, attempt++, at + 30'900));
      at += 31'000;
    }
    Plan(at + 900, Upload(id, true, attempt, 0));
  }

  // A call to a number no intake has: three webhooks that match nothing.
  void PlanStrayCall(int64_t at) {
    CallIds c{CallControlId(), Uuid(), Uuid(), Phone()};
    Plan(at + 150, Webhook(at, "call.initiated", c, Parties(c, "bridging", at)), true);
    Plan(at + 8'000, Webhook(at + 7'900, "call.answered", c, Parties(c, "answered", at)), true);
    Plan(at + 90'000, Webhook(at + 89'800, "call.hangup", c,
                              "      \"hangup_cause\": \"normal_clearing\",\n      \"state\": \"hangup\"\n"));
  }

  std::mt19937_64 rng_;
  std::priority_queue<Planned> pending_;
  uint64_t order_ = 0;
  std::vector<std::string> intake_ids_;
};

}  // namespace callrec::bench

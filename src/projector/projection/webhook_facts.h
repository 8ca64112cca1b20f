// webhook_facts.h — the few fields of a Telnyx Call Control webhook the projection acts on.
//
// A `telnyx.webhook` event's payload is the raw body Telnyx sent; ParseWebhookFacts reads what the
// projection needs from it (ids, direction, numbers, hangup cause, recording URL) into a plain
// value. Facts of a webhook that arrived before its call was bound to an intake (Telnyx does not
// guarantee order) are kept as "orphans" in derived data, so they have a compact JSON form of
// their own (FactsToJson/FactsFromJson) that survives a restart without re-reading the log.
//
// Also here: the small pure helpers matching needs (E.164 normalisation, client_state decoding,
// the file name in a recording URL).
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "core/event.h"
#include "core/status.h"

namespace callrec::projector {

struct WebhookFacts {
  uint64_t seq = 0;             // the telnyx.webhook event's seq
  int64_t recorded_at_ms = 0;   // when we stored it
  std::string event_type;       // data.event_type
  std::string webhook_id;       // data.id
  std::optional<int64_t> occurred_at_ms;  // data.occurred_at when parseable
  std::string call_control_id;  // payload ids; empty when absent
  std::string call_leg_id;
  std::string call_session_id;
  std::string direction;        // "incoming" / "outgoing" / "": only call.initiated carries it
                                // (old or hand-made call.answered bodies may too)
  std::string from;
  std::string to;
  std::string client_state;     // as sent (base64), empty when null
  // custom_headers [{name, value}]: the SIP INVITE's X- headers, in order.
  std::vector<std::pair<std::string, std::string>> custom_headers;
  std::string hangup_cause;     // call.hangup
  std::string recording_id;     // call.recording.saved
  std::string recording_url;    // recording_urls.wav, else .mp3, else public_recording_urls.*
  std::optional<int64_t> recording_started_at_ms;
  std::optional<int64_t> recording_ended_at_ms;
  std::string reason;           // call.recording.error

  // The value of custom header `name` (compared case-insensitively, as SIP does); "" when absent.
  std::string Header(std::string_view name) const;

  // When it happened by Telnyx's clock, else when we stored it.
  int64_t event_time_ms() const { return occurred_at_ms.value_or(recorded_at_ms); }
  bool operator==(const WebhookFacts&) const = default;
};

// Reads a telnyx.webhook event. kInvalidArgument when the payload is not a JSON object with
// data.event_type (ingest rejects those, so this only meets hand-made or damaged logs).
core::Result<WebhookFacts> ParseWebhookFacts(const core::Event& event,
                                             simdjson::dom::parser& parser);

// Compact JSON of every field, for `projector/orphan/...`; FactsFromJson inverts it.
std::string FactsToJson(const WebhookFacts& facts);
core::Result<WebhookFacts> FactsFromJson(std::string_view json, simdjson::dom::parser& parser);

// client_state "aW50YWtlOmFiYw==" (base64 of "intake:abc") -> "abc"; nullopt for anything else,
// including ids that are not valid intake ids.
std::optional<std::string> IntakeIdFromClientState(std::string_view client_state);

// ".../2026-11-20/intake_8f14-1763651052.wav?X-Amz-..." -> "intake_8f14-1763651052.wav".
std::string_view RecordingFileName(std::string_view url);

}  // namespace callrec::projector

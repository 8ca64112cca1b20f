// recording_match.h — deciding which listed recording is this call's.
//
// GET /v2/recordings has no documented sort order and no custom_file_name filter, and a query by
// call_session_id also returns the session's other legs. So nothing is trusted because of where
// it sits in a listing: every candidate is verified against what we know of the call, and only
// verified ones may be chosen. A recording is verified when
//   - its call_session_id equals the call's (required: a call without one verifies nothing);
//   - its call_leg_id equals the call's, when the call's is known;
//   - its call_control_id equals the call's, when both are known and the call's leg is not
//     (Telnyx does not promise a recording's call_control_id is the webhooks' string: a
//     documented example carries the leg UUID; matching leg and session decide);
//   - its status is "completed" (or absent) and it has a download URL;
//   - in manual mode (expect_custom_file_name), every download URL's file name is
//     "<intake_id>-<digits>[.ext]": the custom_file_name we sent plus Telnyx's Unix-time suffix.
//     The suffix must be all digits (any count), so intake "a" never claims "a-1-1763651052.wav"
//     (intake "a-1"), nor "intake_1" the file "intake_10-1763651052.wav".
// Among verified recordings the newest by created_at wins (a re-recorded call's last take).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projector/clients/telnyx_client.h"
#include "projector/projection/recording_file_name.h"

namespace callrec::projector {

struct CallIdentity {
  std::string intake_id{};
  std::string call_control_id{};
  std::string call_leg_id{};
  std::string call_session_id{};
  bool expect_custom_file_name = false;  // manual mode: record_start sent custom_file_name
};

struct MatchVerdict {
  bool verified = false;
  std::string reason;  // why not, for logs and events; "" when verified
};

MatchVerdict Verify(const Recording& recording, const CallIdentity& call);

struct Selection {
  std::optional<Recording> chosen;        // newest verified; never an unverified one
  std::vector<std::string> verified_ids;  // distinct, in listing order
  size_t candidates = 0;                  // distinct recording ids looked at
  std::vector<std::pair<std::string, std::string>> rejected;  // (id, reason), listing order
};

// `candidates`: every recording of every page of the query (a repeated id counts once).
Selection SelectRecording(const std::vector<Recording>& candidates, const CallIdentity& call);

}  // namespace callrec::projector

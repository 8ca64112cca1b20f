// recording_file_name.h — the file-name rule that ties a Telnyx recording to its intake.
//
// In manual mode record_start sends custom_file_name = the intake id, and Telnyx appends
// "-<unix time>" before the extension. Both readers of a recording apply this one rule: the
// actor's verification of polled recordings (recording_match.h) and the projection's check of a
// call.recording.saved webhook (projection_webhooks.cc). So intake "a" never claims
// "a-1-1763651052.wav" (intake "a-1"), nor "intake_1" the file "intake_10-1763651052.wav".
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace callrec::projector {

// A download URL's file name: the last path segment, before any '?' or '#', percent-decoded.
// "https://h/a/b/intake_1-17.wav?X=1" -> "intake_1-17.wav".
std::string DownloadFileName(std::string_view url);

// True when `file_name` is "<intake_id>-<digits>" with an optional ".ext".
bool FileNameBelongsToIntake(std::string_view file_name, std::string_view intake_id);

}  // namespace callrec::projector

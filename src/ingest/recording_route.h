// recording_route.h — GET /api/intakes/{id}/recording: an intake's audio, for the console's
// player and for support engineers with curl.
//
// Where the audio comes from, first that applies:
//   1. the stored copy (metadata.recording_url_storage, a file:// URL written by `--storage fs`):
//      streamed from disk, `Accept-Ranges: bytes`; one `Range: bytes=a-b` / `a-` / `-n` answers
//      206 with Content-Range; an unsatisfiable range 416 with `Content-Range: bytes */size`;
//      several ranges are answered with the whole file (200), as RFC 9110 allows;
//   2. the Supabase object (metadata.recording_url_supabase): 302 to it;
//   3. Telnyx's copy (metadata.recording_id, not deleted): a fresh presigned URL from
//      GET /v2/recordings/{id} (through `fresh_url`, wired by tools), 302 to it;
//   else 404 {"error"} saying why in words (no call answered yet, call in progress, not found
//   yet, the intake failed, deleted at Telnyx and no copy, ...).
// For 2 and 3 a request with `Accept: application/json` gets 200 {"location","source"} instead
// of the redirect (a page's fetch() cannot read a cross-origin redirect).
// Needs the admin token like every /api/intakes* route (401 otherwise).
//
// Thread-safety: handlers run on many worker threads; the object is immutable after construction.
#pragma once

#include <httplib.h>

#include <functional>
#include <string>

#include "core/event_store.h"
#include "core/status.h"
#include "ingest/intake_routes.h"

namespace callrec::ingest {

// A fresh download URL for Telnyx recording `recording_id` of intake `intake_id`. kNotFound when
// Telnyx no longer has it; kUnavailable when Telnyx did not answer usefully.
using FreshRecordingUrl =
    std::function<core::Result<std::string>(const std::string& intake_id, const std::string& recording_id)>;

struct RecordingRouteOptions {
  // --storage-dir when --storage fs ("" otherwise): stored copies are served only from inside it.
  std::string storage_dir;
  FreshRecordingUrl fresh_url;  // empty: no Telnyx fallback (404 says so)
};

class RecordingRoute {
 public:
  // `auth` checks the token; `store` and `auth` must outlive the route.
  RecordingRoute(RecordingRouteOptions options, core::EventStore& store, const IntakeRoutes& auth);
  void Handle(const httplib::Request& req, httplib::Response& res) const;

 private:
  // Streams `path` (Range-aware). False when the file cannot be opened (`why` says so).
  bool ServeFile(const std::string& path, const httplib::Request& req, httplib::Response& res,
                 std::string& why) const;

  const RecordingRouteOptions options_;
  core::EventStore& store_;
  const IntakeRoutes& auth_;
};

}  // namespace callrec::ingest

// console_routes.h — the operator's web console and the data only it needs.
//
//   GET /console/, /console/intakes/{id}, /console/health   the app shell (index.html); the page
//                                       routes client-side, so deep links work
//   GET /console/<asset>               app.js, app.css, ... (console_assets.h: embedded)
//   GET /api/intake-counts             {"counts":{state:N,...},"total":N}
//   GET /api/unmatched-webhooks?limit=N {"total":N,"webhooks":[...]} newest first (1..200, 50)
//   GET /api/calls-per-day?days=N      {"days":[{"day",state:N...}],"examined","complete"} (1..60, 14)
// The shell and assets are public (they hold no data); every /api/ route needs the admin token
// (IntakeRoutes::Authorized). Console answers carry a strict Content-Security-Policy: scripts,
// styles and connections only from this origin, no inline script or style, media from this
// origin, blob: (the player fetches the audio with the token) and https: (a redirect to Supabase
// or a fresh Telnyx URL), no framing.
//
// Thread-safety: handlers run on many worker threads; immutable after construction.
#pragma once

#include <httplib.h>

#include "core/clock.h"
#include "core/event_store.h"
#include "ingest/intake_routes.h"

namespace callrec::ingest {

inline constexpr const char* kConsoleCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

class ConsoleRoutes {
 public:
  // Everything borrowed must outlive the routes.
  ConsoleRoutes(core::EventStore& store, core::Clock& clock, const IntakeRoutes& auth);

  // `name` is the path below /console/ ("" or "intakes/x" serve the shell).
  void Asset(const httplib::Request& req, httplib::Response& res) const;
  void Counts(const httplib::Request& req, httplib::Response& res) const;
  void Unmatched(const httplib::Request& req, httplib::Response& res) const;
  void CallsPerDay(const httplib::Request& req, httplib::Response& res) const;

 private:
  core::EventStore& store_;
  core::Clock& clock_;
  const IntakeRoutes& auth_;
};

}  // namespace callrec::ingest

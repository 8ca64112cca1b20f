// intake_routes.h — the clinic's API: /api/intakes*.
//
//   POST /api/intakes              create (201), same again (200), same id other body (409);
//                                  answered from the projection (`intake/<id>`) once it has
//                                  applied the event, else 202 {"id","seq","projection":"pending"}
//   GET  /api/intakes/{id}         the projected intake verbatim, 404, 400 on a bad id
//   GET  /api/intakes?state=&limit=&after=
//                                  {"intakes":[...]} in id order (bytewise), limit 1..1000
//                                  (default 100); state one of the seven intake states;
//                                  after=<id> continues a listing past that id
//   GET  /api/intakes?order=newest&q=&state=&limit=&before=
//                                  newest first (intake_queries.h ListNewest); `q` searches
//                                  id, patient id, phone digits (an exact id at any age);
//                                  {"intakes","next_before","examined"}; any of order/q/before
//                                  selects this form
//   GET  /api/intakes/{id}/timeline {"intake_id","events":[...]}: the same as
//                                  `callrec timeline ID --json` (core/timeline.h); 404 unknown
//   POST /api/intakes/{id}/retry   re-arms a `failed` intake: appends intake.retry_requested,
//                                  202 {"id","seq"}; 404 unknown; 409 when not failed
// Every route needs `Authorization: Bearer <CALLREC_ADMIN_TOKEN>`; with no token configured
// every route answers 401 saying how to set one. Tokens are compared by SHA-256 digest with
// CRYPTO_memcmp, so neither the content nor the length leaks through timing.
//
// Thread-safety: handlers run on many worker threads at once; the object is immutable after
// construction apart from atomic metrics.
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "core/event_store.h"
#include "core/metrics.h"
#include "core/projection_progress.h"
#include "ingest/intake_request.h"

namespace callrec::ingest {

struct IntakeRoutesOptions {
  std::string admin_token;                          // empty: the API is disabled (401)
  size_t max_body_bytes = 64u << 10;                // POST bodies above this: 413
  std::chrono::milliseconds projection_wait{5000};  // then 202 "pending"
  RandomSource random;                              // required: UUIDs for intakes without an id
};

class IntakeRoutes {
 public:
  // `progress` may be null (no projector wired): answers then come from whatever the derived
  // data holds right away. `store` and `metrics` must outlive the routes.
  IntakeRoutes(IntakeRoutesOptions options, core::EventStore& store, core::Metrics& metrics,
               core::ProjectionProgress* progress);

  void Create(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader);
  void Get(const httplib::Request& req, httplib::Response& res);
  void Timeline(const httplib::Request& req, httplib::Response& res);
  void List(const httplib::Request& req, httplib::Response& res);
  void Retry(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader);

  // False (and `res` set to 401) unless the request carries the admin token.
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;

 private:
  void ListNewestFirst(const httplib::Request& req, httplib::Response& res, const std::string& state,
                       size_t limit);
  // The projected intake JSON the request's `{id}` names, once the token, the id syntax and its
  // existence are checked; otherwise `res` holds the 401/400/404/503 and nullopt is returned.
  std::optional<std::string> AuthorizedIntake(const httplib::Request& req, httplib::Response& res) const;
  // Answers `status_if_found` with the projected intake once the projection reached `seq`.
  void AnswerFromProjection(const std::string& id, uint64_t seq, int status_if_found,
                            httplib::Response& res);
  bool ReadSmallBody(const httplib::Request& req, const httplib::ContentReader& reader,
                     std::string& body, httplib::Response& res) const;

  const IntakeRoutesOptions options_;
  std::array<unsigned char, 32> token_digest_{};  // SHA-256 of admin_token
  core::EventStore& store_;
  core::ProjectionProgress* const progress_;

  core::Counter* created_ = nullptr;
  core::Counter* retries_ = nullptr;
  core::Counter* unauthorized_ = nullptr;
};

}  // namespace callrec::ingest

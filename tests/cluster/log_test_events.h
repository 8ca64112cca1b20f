// log_test_events.h — the events the cluster tests append to the shared log: a Telnyx webhook, keyed
// by its data.id as the webhook route keys it, and an actor's step on an intake (no key).
#pragma once

#include <string>

#include "core/event.h"

namespace callrec::cluster {

inline core::Event Webhook(const std::string& data_id, std::string payload = "{}") {
  core::Event e;
  e.type = "telnyx.webhook";
  e.source = std::string(core::source::kTelnyxWebhook);
  e.payload = std::move(payload);
  e.idempotency_key = "telnyx:" + data_id;
  return e;
}

inline core::Event Step(const std::string& intake, std::string payload) {
  core::Event e;
  e.type = "telnyx.record_start";
  e.source = std::string(core::source::kTelnyxApi);
  e.intake_id = intake;
  e.payload = std::move(payload);
  return e;
}

}  // namespace callrec::cluster

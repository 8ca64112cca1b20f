// The event type catalogue (core/event_types.h): the stored names never change, and each is
// listed once.
#include "core/event_types.h"

#include <set>
#include <string_view>

#include <gtest/gtest.h>

namespace callrec::core {
namespace {

TEST(EventTypes, TheStoredNamesAreTheCatalogues) {
  // Stored in every record since the first release: a rename would orphan old stores' events.
  const std::set<std::string_view> expected = {
      "service.started",        "intake.created",         "telnyx.webhook",
      "telnyx.record_start",    "recording.fetch_scheduled", "telnyx.recordings_list",
      "recording.matched",      "telnyx.recording_get",   "storage.upload",
      "telnyx.recording_delete", "intake.failed",         "intake.retry_requested",
      "telnyx.call_status",     "call.presumed_ended"};
  std::set<std::string_view> listed(std::begin(event_type::kAll), std::end(event_type::kAll));
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(std::size(event_type::kAll), expected.size()) << "a type listed twice";
}

}  // namespace
}  // namespace callrec::core

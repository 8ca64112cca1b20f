#include "ingest/intake_request.h"

#include <gtest/gtest.h>

namespace callrec::ingest {
namespace {

RandomSource Pinned() {
  return [n = uint64_t(0)]() mutable { return n++ == 0 ? 0xFFFFFFFFFFFFFFFFULL : 0x0ULL; };
}

NewIntake MustParse(std::string_view body) {
  auto r = ParseNewIntake(body, Pinned());
  if (auto* e = std::get_if<FieldError>(&r)) {
    ADD_FAILURE() << "rejected: " << e->field << ": " << e->message;
    return {};
  }
  return std::get<NewIntake>(r);
}

FieldError MustReject(std::string_view body) {
  auto r = ParseNewIntake(body, Pinned());
  if (auto* e = std::get_if<FieldError>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << body;
  return {};
}

TEST(ParseNewIntake, NormalisesAndCanonicalises) {
  NewIntake in = MustParse(
      R"({"metadata": {"source": "web form", "n": 1e2, "nested": {"a": [1, 2.50]}},
          "patient_phone": "+1 (555) 123-4567", "id": "intake_42", "patient_id": "p-9"})");
  EXPECT_EQ(in.id, "intake_42");
  EXPECT_FALSE(in.id_generated);
  EXPECT_EQ(CanonicalIntakePayload(in),
            R"({"id":"intake_42","patient_phone":"+15551234567","patient_id":"p-9",)"
            R"("metadata":{"source":"web form","n":1e2,"nested":{"a":[1,2.50]}}})");
}

TEST(ParseNewIntake, DefaultsForAbsentOptionalFields) {
  NewIntake in = MustParse(R"({"patient_phone":"+15551234567"})");
  EXPECT_TRUE(in.id_generated);
  EXPECT_EQ(in.id, "ffffffff-ffff-4fff-8000-000000000000");  // version and variant bits forced
  EXPECT_EQ(CanonicalIntakePayload(in),
            R"({"id":"ffffffff-ffff-4fff-8000-000000000000","patient_phone":"+15551234567",)"
            R"("patient_id":null,"metadata":{}})");
  NewIntake nulls = MustParse(R"({"patient_phone":"+15551234567","id":null,"patient_id":null,"metadata":null})");
  EXPECT_TRUE(nulls.id_generated);
  EXPECT_FALSE(nulls.patient_id.has_value());
  EXPECT_EQ(nulls.metadata_json, "{}");
}

TEST(ParseNewIntake, NamesTheFieldThatIsWrong) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {R"({})", "patient_phone"},
      {R"({"patient_phone":"5551234567"})", "patient_phone"},
      {R"({"patient_phone":"+1234"})", "patient_phone"},
      {R"({"patient_phone":15551234567})", "patient_phone"},
      {R"({"patient_phone":"+15551234567","id":""})", "id"},
      {R"({"patient_phone":"+15551234567","id":"has space"})", "id"},
      {R"({"patient_phone":"+15551234567","id":"../etc"})", "id"},
      {R"({"patient_phone":"+15551234567","id":42})", "id"},
      {R"({"patient_phone":"+15551234567","patient_id":7})", "patient_id"},
      {R"({"patient_phone":"+15551234567","patient_id":""})", "patient_id"},
      {R"({"patient_phone":"+15551234567","metadata":[1]})", "metadata"},
      {R"({"patient_phone":"+15551234567","metadata":"x"})", "metadata"},
      {R"({"patient_phone":"+15551234567","patientId":"x"})", "patientId"},
      {R"({"patient_phone":"+15551234567","patient_phone":"+15551234568"})", "patient_phone"},
  };
  for (const Case& c : cases) {
    FieldError e = MustReject(c.body);
    EXPECT_EQ(e.field, c.field) << c.body << " -> " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
  std::string long_id = R"({"patient_phone":"+15551234567","id":")" + std::string(65, 'a') + "\"}";
  EXPECT_EQ(MustReject(long_id).field, "id");
}

// PostgreSQL's text and jsonb cannot hold U+0000: refused at the door, naming the field; an
// escaped backslash followed by "u0000" is ordinary text and stays accepted.
TEST(ParseNewIntake, RefusesTheNulCharacterNamingTheField) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {R"({"patient_phone":"+15551234567","patient_id":"p\u0000"})", "patient_id"},
      {R"({"patient_phone":"+15551234567","patient_id":"\u0000"})", "patient_id"},
      {R"({"patient_phone":"+15551234567","metadata":{"a":"x\u0000y"}})", "metadata"},
      {R"({"patient_phone":"+15551234567","metadata":{"k\u0000":1}})", "metadata"},
      {R"({"patient_phone":"+15551234567","metadata":{"a":[{"b":"\u0000"}]}})", "metadata"},
      {R"({"patient_phone":"+1555\u00001234567"})", "patient_phone"},
  };
  for (const Case& c : cases) {
    FieldError e = MustReject(c.body);
    EXPECT_EQ(e.field, c.field) << c.body << " -> " << e.message;
  }
  EXPECT_NE(MustReject(cases[0].body).message.find("NUL"), std::string::npos);
  auto ok = ParseNewIntake(R"({"patient_phone":"+15551234567","patient_id":"a\\u0000",)"
                           R"("metadata":{"path":"C:\\u0000"}})", [] { return uint64_t(7); });
  ASSERT_TRUE(std::holds_alternative<NewIntake>(ok));
  EXPECT_EQ(*std::get<NewIntake>(ok).patient_id, "a\\u0000");
}

TEST(ParseNewIntake, RejectsBodiesThatAreNotAnObject) {
  for (const char* body : {"", "not json", "[]", "\"+15551234567\"", "{\"patient_phone\":"}) {
    FieldError e = MustReject(body);
    EXPECT_EQ(e.field, "") << body;
  }
}

TEST(IsValidIntakeId, AllowsUrlSafeIdsUpTo40) {
  EXPECT_TRUE(IsValidIntakeId("a"));
  EXPECT_TRUE(IsValidIntakeId("Intake_2026-11-20"));
  EXPECT_TRUE(IsValidIntakeId(std::string(40, 'z')));
  EXPECT_FALSE(IsValidIntakeId(std::string(41, 'z')));
  for (const char* bad : {"", "a/b", "a.b", "a b", "a%20", "é"}) EXPECT_FALSE(IsValidIntakeId(bad)) << bad;
}

TEST(UuidV4, FormatsRandomBitsAsVersion4) {
  EXPECT_EQ(UuidV4(0, 0), "00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(UuidV4(0x0123456789abcdefULL, 0xfedcba9876543210ULL), "01234567-89ab-4def-bedc-ba9876543210");
}

}  // namespace
}  // namespace callrec::ingest

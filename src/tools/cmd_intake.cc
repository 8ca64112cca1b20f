// `callrec intake create|retry`: the clinic's API through the running service, for operators and
// scripts (token from CALLREC_ADMIN_TOKEN). Prints the intake id on stdout.
#include <httplib.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "core/json.h"
#include "tools/cli.h"

namespace callrec::tools {
namespace {

struct IntakeOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string phone;
  std::string id;
  std::string patient_id;
  bool json = false;
};

// POSTs `body` to `path`; prints Telnyx-style errors from the service and returns the response.
int Post(const IntakeOptions& o, const std::string& path, const std::string& body,
         std::string& response) {
  const char* token = std::getenv("CALLREC_ADMIN_TOKEN");
  if (token == nullptr || *token == '\0')
    return Fail("CALLREC_ADMIN_TOKEN is not set (the service's admin token)");
  httplib::Client client(o.server);
  client.set_connection_timeout(5);
  client.set_read_timeout(15);
  httplib::Headers headers = {{"Authorization", std::string("Bearer ") + token}};
  auto res = client.Post(path, headers, body, "application/json");
  if (!res) return Fail("cannot reach " + o.server + " (" + httplib::to_string(res.error()) + "): is `callrec serve` running?");
  response = res->body;
  if (res->status >= 300) return Fail(o.server + path + " answered " + std::to_string(res->status) + ": " + res->body);
  return kExitOk;
}

int RunCreate(const IntakeOptions& o) {
  core::JsonWriter w;
  w.BeginObject();
  w.Key("patient_phone").String(o.phone);
  if (!o.id.empty()) w.Key("id").String(o.id);
  if (!o.patient_id.empty()) w.Key("patient_id").String(o.patient_id);
  w.EndObject();
  std::string response;
  if (int rc = Post(o, "/api/intakes", w.str(), response); rc != kExitOk) return rc;
  if (o.json) {
    std::cout << response << "\n";
    return kExitOk;
  }
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, response);
  auto id = root.ok() ? core::JsonString(*root, "/id") : std::nullopt;
  if (!id) return Fail("unexpected answer: " + response);
  std::cout << *id << "\n";
  return kExitOk;
}

int RunRetry(const IntakeOptions& o) {
  std::string response;
  if (int rc = Post(o, "/api/intakes/" + o.id + "/retry", "{}", response); rc != kExitOk) return rc;
  std::cout << o.id << "\n";
  return kExitOk;
}

}  // namespace

void AddIntakeCommand(CLI::App& app, Action& action) {
  CLI::App* intake = app.add_subcommand("intake", "Create or retry an intake through the running service");
  intake->require_subcommand(1);

  auto create = std::make_shared<IntakeOptions>();
  CLI::App* c = intake->add_subcommand("create", "Create an intake just before placing its call; prints its id");
  c->add_option("--phone", create->phone, "Patient phone, E.164 (+15551234567)")->required();
  c->add_option("--id", create->id, "Intake id (1-40 of A-Z a-z 0-9 _ -: it becomes Telnyx's custom_file_name); a UUID v4 when absent")
      ->check(NewIntakeIdValidator());
  c->add_option("--patient-id", create->patient_id, "Your patient id");
  c->add_option("--server", create->server, "The service's URL")->capture_default_str();
  c->add_flag("--json", create->json, "Print the intake JSON instead of its id");
  c->callback([create, &action] { action = [create] { return RunCreate(*create); }; });

  auto retry = std::make_shared<IntakeOptions>();
  CLI::App* r = intake->add_subcommand("retry", "Re-arm a failed intake's fetch/upload from where it stopped");
  r->add_option("id", retry->id, "Intake id")->required()->check(IntakeIdValidator());
  r->add_option("--server", retry->server, "The service's URL")->capture_default_str();
  r->callback([retry, &action] { action = [retry] { return RunRetry(*retry); }; });
}

}  // namespace callrec::tools

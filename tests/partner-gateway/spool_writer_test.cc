#include "partner-gateway/spool_writer.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace aplus {

TEST_CASE("times are written as ISO-8601 UTC with milliseconds") {
  CHECK(FormatIso8601Utc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatIso8601Utc(1714642200000) == "2024-05-02T09:30:00.000Z");
  CHECK(FormatIso8601Utc(1714987800123) == "2024-05-06T09:30:00.123Z");
  CHECK(FormatIso8601Utc(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("a spool file is written whole under its case id; unsafe ids are refused") {
  char pattern[] = "/tmp/aplus-spool-writer-test-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  SpoolWriter writer(dir);
  wire::Escalation escalation;
  escalation.set_case_id("PER-7K3M-Q9XD");
  escalation.set_body(std::string("invalid utf-8 \xff kept readable"));
  escalation.set_submitted_at_ms(1714642200000);
  REQUIRE(writer.Write(escalation, 2).ok());
  std::ifstream file(writer.PathFor("PER-7K3M-Q9XD"));
  auto json = nlohmann::json::parse(file);
  CHECK(json["case_id"] == "PER-7K3M-Q9XD");
  CHECK(json["submitted_at"] == "2024-05-02T09:30:00.000Z");
  CHECK(json["deadline"].is_null());
  CHECK(json["attempt"] == 2);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);  // no temporary left

  escalation.set_case_id("../escape");
  CHECK(writer.Write(escalation, 1).code() == wire::INVALID_ARGUMENT);
  escalation.set_case_id("");
  CHECK(writer.Write(escalation, 1).code() == wire::INVALID_ARGUMENT);

  SpoolWriter missing(dir + "/does-not-exist");
  escalation.set_case_id("PER-7K3M-Q9XD");
  CHECK(missing.Write(escalation, 1).code() == wire::UNAVAILABLE);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an alert gets its own spool file per kind; a transferred case's file is removed") {
  char pattern[] = "/tmp/aplus-spool-writer-test-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  SpoolWriter writer(dir);
  wire::Escalation escalation;
  escalation.set_case_id("PER-7K3M-Q9XD");
  REQUIRE(writer.Write(escalation, 1).ok());
  wire::Alert alert;
  alert.set_alert_id("PER-7K3M-Q9XD/BREACH/1");
  alert.set_kind(wire::Alert::BREACH);
  alert.set_case_id("PER-7K3M-Q9XD");
  alert.set_deadline_ms(1714987800123);
  alert.set_text("lapsed");
  REQUIRE(writer.WriteAlert(alert, 3).ok());
  const std::string path = writer.AlertPathFor("PER-7K3M-Q9XD", wire::Alert::BREACH);
  CHECK(path == dir + "/PER-7K3M-Q9XD.alert-breach.json");
  std::ifstream file(path);
  auto json = nlohmann::json::parse(file);
  CHECK(json["kind"] == "breach");
  CHECK(json["alert_id"] == "PER-7K3M-Q9XD/BREACH/1");
  CHECK(json["deadline"] == "2024-05-06T09:30:00.123Z");
  CHECK(json["raised_at"].is_null());
  CHECK(json["attempt"] == 3);
  alert.set_case_id("../escape");
  CHECK(writer.WriteAlert(alert, 1).code() == wire::INVALID_ARGUMENT);

  REQUIRE(writer.Remove("PER-7K3M-Q9XD").ok());
  CHECK_FALSE(std::filesystem::exists(writer.PathFor("PER-7K3M-Q9XD")));
  CHECK(std::filesystem::exists(path));            // alerts hold no personal content
  CHECK(writer.Remove("PER-7K3M-Q9XD").ok());      // already gone: fine
  std::filesystem::remove_all(dir);
}

TEST_CASE("at the end of retention every file of the case goes, and only its files") {
  char pattern[] = "/tmp/aplus-spool-writer-test-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  SpoolWriter writer(dir);
  for (const char* case_id : {"PER-7K3M-Q9XD", "PER-7K3M-Q9XE"}) {
    wire::Escalation escalation;
    escalation.set_case_id(case_id);
    REQUIRE(writer.Write(escalation, 1).ok());
    wire::Alert alert;
    alert.set_case_id(case_id);
    for (auto kind : {wire::Alert::WARNING, wire::Alert::BREACH}) {
      alert.set_kind(kind);
      REQUIRE(writer.WriteAlert(alert, 1).ok());
    }
  }
  REQUIRE(writer.RemoveCase("PER-7K3M-Q9XD").ok());
  CHECK_FALSE(std::filesystem::exists(writer.PathFor("PER-7K3M-Q9XD")));
  CHECK_FALSE(std::filesystem::exists(writer.AlertPathFor("PER-7K3M-Q9XD", wire::Alert::WARNING)));
  CHECK_FALSE(std::filesystem::exists(writer.AlertPathFor("PER-7K3M-Q9XD", wire::Alert::BREACH)));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 3);  // the other case's
  CHECK(writer.RemoveCase("PER-7K3M-Q9XD").ok());  // already gone (or taken): fine
  CHECK(writer.RemoveCase("../escape").code() == wire::INVALID_ARGUMENT);
  std::filesystem::remove_all(dir);
}

}  // namespace aplus

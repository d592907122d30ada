#include "partner-gateway/spool_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

namespace aplus {
namespace {

bool IsSafeFileStem(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status IoError(const std::string& what, const std::string& path) {
  return Status(wire::UNAVAILABLE, what + " " + path + ": " + std::strerror(errno));
}

// Writes all of `data` to `fd`, retrying short writes and interruptions.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// "warning" / "breach": the lower-case kind used in alert file names and contents.
std::string AlertKindName(wire::Alert::Kind kind) {
  switch (kind) {
    case wire::Alert::WARNING:
      return "warning";
    case wire::Alert::BREACH:
      return "breach";
    default:
      return "unknown";
  }
}

nlohmann::json TimeOrNull(int64_t ms) {
  if (ms == 0) return nullptr;
  return FormatIso8601Utc(ms);
}

}  // namespace

std::string FormatIso8601Utc(int64_t ms) {
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {  // floor division for times before 1970
    millis += 1000;
    seconds -= 1;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return text;
}

SpoolWriter::SpoolWriter(std::string directory) : directory_(std::move(directory)) {}

std::string SpoolWriter::PathFor(const std::string& case_id) const {
  return directory_ + "/" + case_id + ".json";
}

std::string SpoolWriter::ToJson(const wire::Escalation& escalation, uint32_t attempt) {
  nlohmann::json json = {
      {"case_id", escalation.case_id()},
      {"contact_point", escalation.contact_point()},
      {"agent", escalation.agent()},
      {"partner", escalation.partner()},
      {"territory", escalation.territory()},
      {"category", escalation.category()},
      {"subject", escalation.subject()},
      {"body", escalation.body()},
      {"citizen_name", escalation.citizen_name()},
      {"submitted_at", TimeOrNull(escalation.submitted_at_ms())},
      {"deadline", TimeOrNull(escalation.deadline_ms())},
      {"attempt", attempt},
  };
  // Text from the network may hold invalid UTF-8: replace it rather than fail the delivery.
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string SpoolWriter::AlertPathFor(const std::string& case_id, wire::Alert::Kind kind) const {
  return directory_ + "/" + case_id + ".alert-" + AlertKindName(kind) + ".json";
}

std::string SpoolWriter::AlertToJson(const wire::Alert& alert, uint32_t attempt) {
  nlohmann::json json = {
      {"alert_id", alert.alert_id()},
      {"kind", AlertKindName(alert.kind())},
      {"case_id", alert.case_id()},
      {"partner", alert.partner()},
      {"territory", alert.territory()},
      {"contact_point", alert.contact_point()},
      {"deadline", TimeOrNull(alert.deadline_ms())},
      {"raised_at", TimeOrNull(alert.raised_at_ms())},
      {"text", alert.text()},
      {"attempt", attempt},
  };
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status SpoolWriter::Write(const wire::Escalation& escalation, uint32_t attempt) const {
  const std::string& case_id = escalation.case_id();
  if (!IsSafeFileStem(case_id)) {
    return Status(wire::INVALID_ARGUMENT, "case id '" + case_id + "' cannot name a spool file");
  }
  return WriteFile(case_id, ToJson(escalation, attempt));
}

Status SpoolWriter::WriteAlert(const wire::Alert& alert, uint32_t attempt) const {
  const std::string& case_id = alert.case_id();
  if (!IsSafeFileStem(case_id)) {
    return Status(wire::INVALID_ARGUMENT, "case id '" + case_id + "' cannot name a spool file");
  }
  return WriteFile(case_id + ".alert-" + AlertKindName(alert.kind()), AlertToJson(alert, attempt));
}

Status SpoolWriter::Remove(const std::string& case_id) const {
  if (!IsSafeFileStem(case_id)) {
    return Status(wire::INVALID_ARGUMENT, "case id '" + case_id + "' cannot name a spool file");
  }
  const std::string path = PathFor(case_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("cannot remove", path);
  return Status::Ok();
}

Status SpoolWriter::RemoveCase(const std::string& case_id) const {
  if (!IsSafeFileStem(case_id)) {
    return Status(wire::INVALID_ARGUMENT, "case id '" + case_id + "' cannot name a spool file");
  }
  bool removed = false;
  for (const std::string& path : {PathFor(case_id), AlertPathFor(case_id, wire::Alert::WARNING),
                                  AlertPathFor(case_id, wire::Alert::BREACH)}) {
    if (::unlink(path.c_str()) == 0) {
      removed = true;
    } else if (errno != ENOENT) {
      return IoError("cannot remove", path);
    }
  }
  if (!removed) return Status::Ok();
  // Otherwise a power cut could bring a removed name back.
  int dir = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return IoError("cannot open spool directory", directory_);
  int synced = ::fsync(dir);
  Status status = synced == 0 ? Status::Ok() : IoError("cannot sync spool directory", directory_);
  ::close(dir);
  return status;
}

Status SpoolWriter::WriteFile(const std::string& stem, const std::string& text) const {
  const std::string path = directory_ + "/" + stem + ".json";
  // A dot-prefixed temporary name: readers watching for "*.json" never pick it up.
  const std::string temporary = directory_ + "/." + stem + ".json.tmp";

  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", temporary);
  if (!WriteAll(fd, text) || ::fsync(fd) != 0) {
    Status status = IoError("cannot write", temporary);
    ::close(fd);
    ::unlink(temporary.c_str());
    return status;
  }
  if (::close(fd) != 0) {
    Status status = IoError("cannot close", temporary);
    ::unlink(temporary.c_str());
    return status;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    Status status = IoError("cannot rename into", path);
    ::unlink(temporary.c_str());
    return status;
  }
  // The rename is durable only once the directory entry is synced.
  int dir = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return IoError("cannot open spool directory", directory_);
  int synced = ::fsync(dir);
  Status status = synced == 0 ? Status::Ok() : IoError("cannot sync spool directory", directory_);
  ::close(dir);
  return status;
}

}  // namespace aplus

// Hands each delivered escalation to the partner's systems as one JSON file in a spool
// directory: <dir>/<case id>.json, written atomically and durably (temporary file, fsync,
// rename, fsync of the directory), so a reader never sees half a file and a file that exists
// survives a power cut. The gateway writes the file BEFORE it acknowledges the delivery.
//
// File format (one JSON object; times are ISO-8601 UTC with milliseconds, null when unset):
//   {"case_id", "contact_point", "agent", "partner", "territory", "category", "subject",
//    "body", "citizen_name", "submitted_at", "deadline", "attempt"}
//
// SLA reminders get <dir>/<case id>.alert-<warning|breach>.json, written the same way before
// the alert is acknowledged (a later alert of the same kind, after the deadline moved,
// replaces it):
//   {"alert_id", "kind", "case_id", "partner", "territory", "contact_point", "deadline",
//    "raised_at", "text", "attempt"}
#pragma once

#include <cstdint>
#include <string>

#include "aplus.pb.h"
#include "common/status.h"

namespace aplus {

// "2024-05-02T09:30:00.000Z" for unix milliseconds `ms`.
std::string FormatIso8601Utc(int64_t ms);

// Thread rules: stateless after construction; one writer per directory (file names are
// per case, the temporary name is fixed per case).
class SpoolWriter {
 public:
  // `directory` must exist.
  explicit SpoolWriter(std::string directory);

  // Writes the file of `escalation`. INVALID_ARGUMENT when the case id cannot be a file name
  // (only letters, digits, '-' and '_' are accepted); UNAVAILABLE on an I/O failure, in which
  // case the delivery must not be acknowledged.
  Status Write(const wire::Escalation& escalation, uint32_t attempt) const;

  // Writes the file of an SLA alert; same errors as Write.
  Status WriteAlert(const wire::Alert& alert, uint32_t attempt) const;

  // Removes the escalation file of `case_id` if it is still there (the case was transferred
  // to another partner: its content is no longer this partner's). OK when there is none.
  Status Remove(const std::string& case_id) const;

  // Removes every file of `case_id` still there, the escalation and its alerts, durably (the
  // directory is synced): the retention period of the case is over. OK when there is none
  // (the partner's systems may have taken them already).
  Status RemoveCase(const std::string& case_id) const;

  // The JSON text written for `escalation` / `alert`.
  static std::string ToJson(const wire::Escalation& escalation, uint32_t attempt);
  static std::string AlertToJson(const wire::Alert& alert, uint32_t attempt);
  // The path of the file for `case_id`, and of its alert file of `kind`.
  std::string PathFor(const std::string& case_id) const;
  std::string AlertPathFor(const std::string& case_id, wire::Alert::Kind kind) const;

 private:
  // Writes `text` to <dir>/<stem>.json atomically and durably.
  Status WriteFile(const std::string& stem, const std::string& text) const;

  const std::string directory_;
};

}  // namespace aplus

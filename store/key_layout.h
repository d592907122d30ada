// Key layout of the broker's RocksDB database; store/KEY_LAYOUT.md is the document this mirrors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/case_id.h"
#include "store/rocks_db.h"

namespace aplus::keys {

inline constexpr const char* kCases = "cases";
inline constexpr const char* kEvents = "events";
// case id -> CaseContent (body, citizen name): written once, apart from the record.
inline constexpr const char* kContent = "content";
inline constexpr const char* kQueues = "queues";
inline constexpr const char* kDedup = "dedup";
inline constexpr const char* kByContactPoint = "by_contact_point";
inline constexpr const char* kMeta = "meta";
inline constexpr const char* kDue = "due";
inline constexpr const char* kAlerts = "alerts";
inline constexpr const char* kOpenAlerts = "open_alerts";
inline constexpr std::string_view kAlertCounter = "alert_counter";
// be64(alert sequence) -> alert id: the order in which alerts were raised, for a follower's
// catch-up (ListAlerts.after_sequence). Written in the same batch as the alert.
inline constexpr const char* kAlertsBySequence = "alerts_by_sequence";
// Kept apart from case data: the retention purge never touches this family.
inline constexpr const char* kAudit = "audit";
inline constexpr std::string_view kAuditCounter = "audit_counter";
// Set by a purge pass, removed once its compaction has run: a compaction owed across a crash.
inline constexpr std::string_view kPurgeCompactionOwed = "purge_compaction_owed";

inline constexpr std::string_view kCaseCounter = "case_counter";
inline constexpr std::string_view kStateCountPrefix = "state_count/";
// open_cases/<contact point>: cases of that contact point still waiting for a partner (the
// abuse limit on open cases reads it; kept in step by every PutCase).
inline constexpr std::string_view kOpenCasesPrefix = "open_cases/";
// at_risk/<partner>: that partner's cases at risk (store/cases_at_risk.h), kept in step by
// every PutCase, so that a /metrics scrape reads a counter instead of every case.
inline constexpr std::string_view kAtRiskPrefix = "at_risk/";
// Present once the at_risk/ counters were counted from the cases (BrokerStore::Open, on a
// store written before they existed): from then on PutCase keeps them.
inline constexpr std::string_view kAtRiskCounted = "at_risk_counted";
inline constexpr std::string_view kDeadLetterPrefix = "dead/";
inline constexpr std::string_view kQueueNextPrefix = "queue_next/";

// The key of a case's record and content, and the start of its events' and audit entries'
// keys: be64(the case's number) + case id. Numbers are handed out in order, so these families
// grow at their end and RocksDB's compactions move files down instead of rewriting whole
// levels (keyed by the id alone, a keyed permutation of the number, every compaction rewrote
// them: issue 11). The id follows so that a key names its case. A text from which no number
// can be read (not a well-formed id; the broker stores none, a test may) gets number
// kCaseIdSpace: after every real case, and still unique by the id that follows.
inline std::string CaseKey(std::string_view case_id) {
  std::string key;
  key.reserve(8 + case_id.size() + 1 + 8);  // room for an event's or an audit entry's suffix
  AppendBigEndian64(key, CaseIdCounter(case_id).value_or(kCaseIdSpace));
  key.append(case_id);
  return key;
}

// Keys written before CaseKey (the case id first, which never starts with a zero byte) sort
// from here on; every key of the numbered layout starts with a zero byte (a number below
// 2^35). BrokerStore::Open moves them (MigrateCaseKeys).
inline constexpr std::string_view kFirstUnnumberedCaseKey = "\x01";

// The numbered key of a key written before CaseKey: the case id (up to the first zero byte, or
// the whole key) is replaced by CaseKey of it; what follows (an event's or an audit entry's
// suffix) is kept.
inline std::string NumberedCaseKey(std::string_view unnumbered) {
  size_t end = unnumbered.find('\0');
  if (end == std::string_view::npos) end = unnumbered.size();
  std::string key = CaseKey(unnumbered.substr(0, end));
  key.append(unnumbered.substr(end));
  return key;
}

// The prefix of a case's entries in a family keyed by case key + `\0` + a number: `events`
// (be32 event number) and `audit` (be64 audit sequence).
inline std::string CaseEntryPrefix(std::string_view case_id) {
  std::string key = CaseKey(case_id);
  key.push_back('\0');
  return key;
}

inline std::string EventKey(std::string_view case_id, uint32_t number) {
  std::string key = CaseEntryPrefix(case_id);
  AppendBigEndian32(key, number);
  return key;
}

inline std::string AuditKey(std::string_view case_id, uint64_t sequence) {
  std::string key = CaseEntryPrefix(case_id);
  AppendBigEndian64(key, sequence);
  return key;
}

inline std::string QueuePrefix(std::string_view queue) {
  std::string key(queue);
  key.push_back('\0');
  return key;
}

inline std::string QueueKey(std::string_view queue, uint64_t sequence) {
  std::string key = QueuePrefix(queue);
  AppendBigEndian64(key, sequence);
  return key;
}

inline std::string DedupKey(std::string_view principal, std::string_view idempotency_key) {
  std::string key(principal);
  key.push_back('\0');
  key.append(idempotency_key);
  return key;
}

// Idempotency scopes: the request kind part of a dedup key. These strings are stored, so they
// never change, whatever the wire names become: they are today's (and the first release's)
// protobuf field names of the requests, frozen here. A retried request finds its first outcome
// only under the same scope, case id and key (broker/request_table.h says which request uses
// which scope).
inline constexpr std::string_view kScopeSubmit = "submit";
inline constexpr std::string_view kScopeCloseCase = "close_case";
inline constexpr std::string_view kScopeCancelCase = "cancel_case";
inline constexpr std::string_view kScopeAcknowledgeCase = "acknowledge_case";
inline constexpr std::string_view kScopeReplyCase = "reply_case";
inline constexpr std::string_view kScopeAskInfo = "ask_info";
inline constexpr std::string_view kScopeAnswerInfo = "answer_info";
inline constexpr std::string_view kScopeTransferCase = "transfer_case";
inline constexpr std::string_view kScopeRequeueDeadLetters = "requeue_dead_letters";

// The idempotency key as stored under the principal (DedupKey): scope + `\x1f` + case id
// (normalized; empty for a submission) + `\x1f` + the client's key. The same key on another
// kind of request or on another case is another request, never a replay of the first.
inline std::string ScopedIdempotencyKey(std::string_view scope, std::string_view case_id,
                                        std::string_view idempotency_key) {
  std::string key(scope);
  key.push_back('\x1f');
  key.append(case_id);
  key.push_back('\x1f');
  key.append(idempotency_key);
  return key;
}

// contact point + `\0` + case key: a contact point's cases in submission order (case number),
// each contact point's index growing at its end. Keys written before (contact point + `\0` +
// case id: a letter where a case key has a zero byte) are moved at start-up
// (BrokerStore::MigrateContactPointIndex).
inline std::string ByContactPointPrefix(std::string_view contact_point) {
  std::string key(contact_point);
  key.push_back('\0');
  return key;
}

inline std::string ByContactPointKey(std::string_view contact_point, std::string_view case_id) {
  std::string key = ByContactPointPrefix(contact_point);
  key.append(CaseKey(case_id));
  return key;
}

inline std::string AtRiskKey(std::string_view partner) {
  std::string key(kAtRiskPrefix);
  key.append(partner);
  return key;
}

inline std::string StateCountKey(std::string_view state_name) {
  std::string key(kStateCountPrefix);
  key.append(state_name);
  return key;
}

inline std::string AlertSequenceKey(uint64_t sequence) {
  std::string key;
  AppendBigEndian64(key, sequence);
  return key;
}

// Timer kinds, one byte at the end of a due key.
inline constexpr char kTimerWarning = 'W';
inline constexpr char kTimerBreach = 'B';
// Retention: erase the case's personal data (closed or cancelled long enough ago).
inline constexpr char kTimerPurge = 'P';

// be64(due ms) + case key + `\0` + kind. Deadlines fall at the end of a day, so the timers of a
// day's cases share one due instant: the case key orders them by case number within it (the
// family grows at its end), where the case id alone scattered them across the instant.
inline std::string DueKey(int64_t due_ms, std::string_view case_id, char kind) {
  std::string key;
  AppendBigEndian64(key, static_cast<uint64_t>(due_ms < 0 ? 0 : due_ms));
  key.append(CaseKey(case_id));
  key.push_back('\0');
  key.push_back(kind);
  return key;
}

// The case id of a due key (at least 10 bytes): after the case number when the key has one (its
// first byte after the due time is zero), or right after the due time in a key written before
// the case key (a case id starts with a letter). Both layouts are read; only the first is
// written.
inline std::string_view DueKeyCaseId(std::string_view key) {
  size_t from = key.size() >= 18 && key[8] == '\0' ? 16 : 8;
  return key.substr(from, key.size() - 2 - from);
}

}  // namespace aplus::keys

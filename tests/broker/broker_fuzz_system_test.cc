// "Bad input is answered, not obeyed": thousands of random and mutated frames thrown at the
// broker's socket, from connections with and without a session. Every frame that deserves an
// answer gets exactly one, typed; the broker keeps running; cases recorded before are unchanged
// byte for byte; a normal round trip still works afterwards.
//
// The seed is printed; rerun a failure with APLUS_FUZZ_SEED=<seed>.
#include <doctest/doctest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>
#include <limits>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include "common/case_id.h"
#include "common/wire.h"
#include "tests/support/broker_test_helpers.h"

using namespace aplus;
using namespace aplus::testing;

namespace {

namespace pb = google::protobuf;

constexpr uint64_t kBarrierBase = uint64_t{1} << 62;  // request ids of our own Pings
constexpr size_t kMaxFrameBytes = 1 << 20;            // the broker's default limit
constexpr int kFramesPerSession = 3000;               // x4 sessions: 12,000 frames
constexpr int kChunk = 32;                            // frames sent before reading answers

std::string Hex(const std::string& bytes, size_t limit = 48) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min(limit, bytes.size()); ++i) {
    out += kDigits[static_cast<uint8_t>(bytes[i]) >> 4];
    out += kDigits[static_cast<uint8_t>(bytes[i]) & 15];
  }
  if (bytes.size() > limit) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

// Map fields serialize in hash order unless asked otherwise: deterministic bytes keep a seed
// reproducible across runs.
std::string Serialize(const pb::Message& message) {
  std::string bytes;
  pb::io::StringOutputStream stream(&bytes);
  pb::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

bool IsServedRequest(const std::string& body);

// Random frames: raw garbage, mutated envelopes, envelopes of every body type with random
// field values, and a few special shapes. Deterministic for a given seed.
class FrameFactory {
 public:
  FrameFactory(uint64_t seed, std::vector<std::string> known_case_ids)
      : random_(seed), known_case_ids_(std::move(known_case_ids)) {
    const auto* body = wire::Envelope::descriptor()->FindOneofByName("body");
    for (int i = 0; i < body->field_count(); ++i) body_fields_.push_back(body->field(i));
  }

  // One message (one or more frames). `allow_hello` = false never yields a frame that parses
  // as a Hello, so an unauthenticated connection stays unauthenticated.
  std::vector<std::string> Next(bool allow_hello) {
    while (true) {
      std::vector<std::string> parts = Generate();
      if (allow_hello || parts.size() != 1) return parts;
      auto decoded = DecodeEnvelope(parts[0].data(), parts[0].size(), kMaxFrameBytes);
      if (!decoded.ok() || !decoded->has_hello()) return parts;
    }
  }

  // A well-formed envelope of a random body type with random field values.
  wire::Envelope RandomEnvelope() {
    wire::Envelope envelope;
    envelope.set_request_id(RandomRequestId());
    // Half the time a request the broker serves, so that many frames reach deep into handlers.
    const pb::FieldDescriptor* field = nullptr;
    while (!field) {
      field = body_fields_[Pick(body_fields_.size())];
      if (Chance(0.5) && !IsServedRequest(field->name())) field = nullptr;
    }
    Fill(*envelope.GetReflection()->MutableMessage(&envelope, field), 0);
    return envelope;
  }

  uint64_t RandomRequestId() {
    switch (Pick(8)) {
      case 0: return 0;
      case 1: return random_() & (kBarrierBase - 1);
      default: return ++next_request_id_;
    }
  }

  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(random_); }
  std::mt19937_64& random() { return random_; }

 private:
  std::vector<std::string> Generate() {
    size_t kind = Pick(100);
    if (kind < 20) return {RandomBytes(RandomLength())};
    if (kind < 55) return {Mutate(Serialize(RandomEnvelope()))};
    if (kind < 92) return {Serialize(RandomEnvelope())};
    if (kind < 96) {  // several frames in one message
      std::vector<std::string> parts;
      size_t count = 2 + Pick(3);
      for (size_t i = 0; i < count; ++i) {
        parts.push_back(Chance(0.5) ? Serialize(RandomEnvelope()) : RandomBytes(Pick(64)));
      }
      return parts;
    }
    if (kind < 97) return {""};  // an empty frame
    if (kind < 98) {  // an envelope with only a request id, or an unknown body field
      wire::Envelope envelope;
      envelope.set_request_id(RandomRequestId());
      std::string bytes = Serialize(envelope);
      if (Chance(0.5)) bytes += std::string("\xfa\x07\x03" "abc", 6);  // field 127, 3 bytes
      return {bytes};
    }
    // Huge: random bytes or an envelope around a large string, sometimes above the limit.
    size_t size = Chance(0.5) ? kMaxFrameBytes + 1 + Pick(300000) : 200000 + Pick(700000);
    if (Chance(0.5)) return {RandomBytes(size)};
    wire::Envelope envelope = RandomEnvelope();
    envelope.mutable_submit()->set_body(std::string(size, 'x'));
    return {Serialize(envelope)};
  }

  size_t RandomLength() {
    switch (Pick(10)) {
      case 0: return 0;
      case 1: return 1 + Pick(4);
      case 2: return 1000 + Pick(60000);
      default: return Pick(300);
    }
  }

  std::string RandomBytes(size_t size) {
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(random_() & 0xff);
    return bytes;
  }

  std::string Mutate(std::string bytes) {
    size_t rounds = 1 + Pick(4);
    for (size_t round = 0; round < rounds; ++round) {
      switch (Pick(5)) {
        case 0:
        case 1:  // flip bits
          if (!bytes.empty()) bytes[Pick(bytes.size())] ^= static_cast<char>(1 + Pick(255));
          break;
        case 2:  // truncate
          if (!bytes.empty()) bytes.resize(Pick(bytes.size()));
          break;
        case 3:  // extend
          bytes += Chance(0.5) ? RandomBytes(1 + Pick(32)) : Serialize(RandomEnvelope());
          break;
        case 4:  // insert garbage inside
          bytes.insert(bytes.empty() ? 0 : Pick(bytes.size()), RandomBytes(1 + Pick(8)));
          break;
      }
    }
    return bytes;
  }

  std::string RandomText(size_t max_length) {
    static const std::vector<std::string> kPieces = {"a", "Z", "0", "-", "/", " ", "é", "€",
                                                     "\xF0\x9F\x98\x80", "\\", "%", "'", "\"",
                                                     "PER-", "\t", "\n"};
    std::string text;
    size_t length = Pick(max_length + 1);
    while (text.size() < length) text += kPieces[Pick(kPieces.size())];
    return text;
  }

  std::string RandomCaseId() {
    switch (Pick(6)) {
      case 0:
      case 1: return known_case_ids_[Pick(known_case_ids_.size())];
      case 2: return FormatCaseId("PER", Pick(400));           // plausible, maybe existing
      case 3: return FormatCaseId("APL", random_() % kCaseIdSpace);
      case 4: {                                                // lower case, no hyphens
        std::string id = known_case_ids_[Pick(known_case_ids_.size())];
        std::string typed;
        for (char c : id) {
          if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return typed;
      }
      default: return RandomText(20);
    }
  }

  // Strings chosen by field name, so that many requests are plausible enough to reach deep
  // into the handlers. No principal of the recorded cases (mairie-perche-en-noce, cpam) and no
  // france-travail is ever offered as a Hello principal: the fuzzing sessions must not gain
  // the right to touch what the test later checks.
  std::string RandomString(const pb::FieldDescriptor* field) {
    if (Chance(0.002)) return std::string(100000 + Pick(800000), 'h');  // huge
    if (Chance(0.1)) return RandomText(40);
    const std::string& name = field->name();
    auto one_of = [&](const std::vector<std::string>& values) { return values[Pick(values.size())]; };
    if (name == "case_id" || name == "after_case_id") return RandomCaseId();
    if (name == "queue") {
      return one_of({"partner/france-travail", "partner/cpam", "partner/msa", "partner/caf/perche",
                     "mailbox/mairie-perche-en-noce", "mailbox/mairie-berdhuis",
                     "dead/partner/cpam", "partner/", "", std::string("partner/msa\0x", 13)});
    }
    if (name == "principal") {
      return one_of({"mairie-berdhuis", "msa", "caf", "operator", "mairie-bretoncelles",
                     "no-such-one", "", "MSA", "msa "});
    }
    if (name == "territory") return one_of({"perche", "", "nowhere", "PERCHE"});
    if (name == "partner" || name == "to_partner") {
      return one_of({"france-travail", "cpam", "msa", "caf", "nobody", "", "France-Travail"});
    }
    if (name == "agent") {
      return one_of({"agent-berdhuis-1", "agent-berdhuis-2", "agent-noce-1", "ghost", ""});
    }
    if (name == "category") return one_of({"unemployment-benefits", "taxes", "", "x"});
    if (name == "idempotency_key") return one_of({"", "k1", "k2", RandomText(12)});
    return RandomText(60);
  }

  uint64_t RandomNumber() {
    switch (Pick(6)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return UINT64_MAX;
      case 3: return Pick(20);
      case 4: return static_cast<uint64_t>(INT64_MAX) + Pick(3);
      default: return random_();
    }
  }

  void SetOne(pb::Message& message, const pb::FieldDescriptor* field, int depth) {
    const pb::Reflection* reflection = message.GetReflection();
    bool repeated = field->is_repeated();
    uint64_t number = RandomNumber();
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32:
        repeated ? reflection->AddInt32(&message, field, static_cast<int32_t>(number))
                 : reflection->SetInt32(&message, field, static_cast<int32_t>(number));
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        repeated ? reflection->AddInt64(&message, field, static_cast<int64_t>(number))
                 : reflection->SetInt64(&message, field, static_cast<int64_t>(number));
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        repeated ? reflection->AddUInt32(&message, field, static_cast<uint32_t>(number))
                 : reflection->SetUInt32(&message, field, static_cast<uint32_t>(number));
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        repeated ? reflection->AddUInt64(&message, field, number)
                 : reflection->SetUInt64(&message, field, number);
        break;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
        double value = Chance(0.1) ? std::numeric_limits<double>::quiet_NaN()
                                   : static_cast<double>(static_cast<int64_t>(number)) / 7.0;
        repeated ? reflection->AddDouble(&message, field, value)
                 : reflection->SetDouble(&message, field, value);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        repeated ? reflection->AddBool(&message, field, Chance(0.5))
                 : reflection->SetBool(&message, field, Chance(0.5));
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        // Open enums: values outside the declared range are legal on the wire.
        int value = static_cast<int>(Pick(20)) - 2;
        repeated ? reflection->AddEnumValue(&message, field, value)
                 : reflection->SetEnumValue(&message, field, value);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING:
        repeated ? reflection->AddString(&message, field, RandomString(field))
                 : reflection->SetString(&message, field, RandomString(field));
        break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 3) {
          Fill(repeated ? *reflection->AddMessage(&message, field)
                        : *reflection->MutableMessage(&message, field),
               depth + 1);
        }
        break;
      default:
        break;
    }
  }

  void Fill(pb::Message& message, int depth) {
    const pb::Descriptor* descriptor = message.GetDescriptor();
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const pb::FieldDescriptor* field = descriptor->field(i);
      if (!Chance(0.75)) continue;
      size_t count = field->is_repeated() ? Pick(4) : 1;
      for (size_t n = 0; n < count; ++n) SetOne(message, field, depth);
    }
  }

  std::mt19937_64 random_;
  std::vector<std::string> known_case_ids_;
  std::vector<const pb::FieldDescriptor*> body_fields_;
  uint64_t next_request_id_ = 1000;
};

// The answer body a served request gets when it succeeds ("" = no answer on success).
std::optional<std::string> SuccessBodyFor(const std::string& request_body) {
  static const std::map<std::string, std::string> kAnswers = {
      {"hello", "welcome"},           {"ping", "pong"},
      {"submit", "accepted"},         {"get_case", "case_view"},
      {"list_cases", "case_list"},    {"close_case", "case_updated"},
      {"cancel_case", "case_updated"}, {"acknowledge_case", "case_updated"},
      {"reply_case", "case_updated"}, {"subscribe", "subscribed"},
      {"get_stats", "stats"},         {"delivery_ack", ""},
      // SLA requests (proto grammar: ask, answer, transfer, alerts, alert-ack, report,
      // deadline). A broker that does not serve them yet answers UNKNOWN_MESSAGE, a typed error.
      {"ask_info", "case_updated"},   {"answer_info", "case_updated"},
      {"transfer_case", "case_updated"}, {"list_alerts", "alert_list"},
      {"ack_alert", "alert_acked"},   {"get_report", "report"},
      {"explain_deadline", "deadline_explanation"},
      {"get_audit", "audit_log"},     // audit (proto grammar): who read or changed a case
      {"list_dead_letters", "dead_letter_list"},  // dead letters (operators)
      {"requeue_dead_letters", "requeued"},
      {"get_sla_board", "sla_board"},  // SLA board (operators)
  };
  auto it = kAnswers.find(request_body);
  if (it == kAnswers.end()) return std::nullopt;
  return it->second;
}

bool IsServedRequest(const std::string& body) { return SuccessBodyFor(body).has_value(); }

// A raw DEALER connection to the broker, and what the test knows of its session.
struct RawSession {
  std::string label;
  std::unique_ptr<zmq::socket_t> socket;
  std::optional<wire::Hello> hello;   // the session it should hold; nullopt = never says Hello
  bool authenticated = false;
  std::set<std::string> queues;       // from the last Welcome
  uint64_t next_barrier = kBarrierBase;
};

std::unique_ptr<zmq::socket_t> Connect(zmq::context_t& context, const std::string& endpoint,
                                       const CurveClientKeys& keys) {
  auto socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  ApplyCurveClient(*socket, keys);
  socket->set(zmq::sockopt::sndtimeo, 10000);
  socket->set(zmq::sockopt::sndhwm, 100000);
  socket->set(zmq::sockopt::rcvhwm, 100000);
  socket->connect(endpoint);
  return socket;
}

bool SendParts(zmq::socket_t& socket, const std::vector<std::string>& parts) {
  for (size_t i = 0; i < parts.size(); ++i) {
    zmq::message_t message(parts[i].data(), parts[i].size());
    auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!socket.send(message, flags)) return false;
  }
  return true;
}

// Reads answers until the Pong that answers `barrier`; pushed Deliveries are left out. An
// answer that is not one well-formed envelope with a body is described in `bad_answers`.
// Returns nullopt only when the barrier's Pong does not come.
// `answer_may_follow`: the frame is a read of every case (a report, an SLA board), which the
// broker answers once the read ends, off its loop (store/case_scanner.h), so possibly after the
// barrier's Pong: with nothing else in flight, the next answer after the Pong is then its own.
std::optional<std::vector<wire::Envelope>> ReadUntilBarrier(zmq::socket_t& socket, uint64_t barrier,
                                                            std::vector<std::string>& bad_answers,
                                                            bool answer_may_follow = false) {
  std::vector<wire::Envelope> answers;
  bool barrier_seen = false;
  int64_t deadline = SteadyNowMs() + 15000;
  while (true) {
    if (barrier_seen && !answers.empty()) return answers;
    int64_t left = deadline - SteadyNowMs();
    if (left <= 0) return std::nullopt;
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(left));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::dontwait)) continue;
    if (message.more()) {
      bad_answers.push_back("a multi-frame answer");
      while (message.more() && socket.recv(message, zmq::recv_flags::none)) {
      }
      continue;
    }
    auto decoded = DecodeEnvelope(message.data(), message.size(), SIZE_MAX);
    if (!decoded.ok()) {
      bad_answers.push_back("an answer that is not an envelope (" + decoded.status().ToString() +
                            ") [" + Hex(message.to_string()) + "]");
      continue;
    }
    if (decoded->has_pong() && decoded->request_id() == barrier) {
      if (!answer_may_follow || !answers.empty()) return answers;
      barrier_seen = true;
      continue;
    }
    if (decoded->has_delivery() && decoded->request_id() == 0) continue;  // a push, not an answer
    answers.push_back(std::move(decoded).value());
  }
}

// A report or an SLA board: answered when its read of the cases ends, off the broker's loop.
bool ReadsEveryCase(const std::vector<std::string>& parts) {
  wire::Envelope request;
  if (parts.size() != 1 || !request.ParseFromString(parts[0])) return false;
  return request.has_get_report() || request.has_get_sla_board();
}

// What the fuzzing saw, for the report.
struct Tally {
  size_t frames = 0;
  size_t answered = 0;
  size_t errors = 0;
  size_t successes = 0;
  std::map<std::string, size_t> by_code;
  std::map<std::string, size_t> by_body;  // valid answers by body name
  std::vector<std::string> violations;
  // Answers that report a change to a case other than the one the request named.
  std::vector<std::string> wrong_case_answers;
  // Answers a client cannot read (not an envelope, no body, several frames).
  std::vector<std::string> unreadable_answers;
};

// The case id a mutating request names, if it is one.
std::optional<std::string> CaseIdOfRequest(const wire::Envelope& request) {
  const pb::Message* body = nullptr;
  const auto* oneof = wire::Envelope::descriptor()->FindOneofByName("body");
  const auto* field = request.GetReflection()->GetOneofFieldDescriptor(request, oneof);
  if (!field || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) return std::nullopt;
  body = &request.GetReflection()->GetMessage(request, field);
  const auto* case_field = body->GetDescriptor()->FindFieldByName("case_id");
  if (!case_field || case_field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) return std::nullopt;
  return body->GetReflection()->GetString(*body, case_field);
}

// Checks the answers to one message against what the protocol promises; updates `session`.
void Judge(RawSession& session, const std::vector<std::string>& parts,
           const std::vector<wire::Envelope>& answers, Tally& tally) {
  ++tally.frames;
  std::ostringstream where;
  where << session.label << " frame " << tally.frames << " [" << Hex(parts[0]) << "]";
  auto violation = [&](const std::string& what) {
    tally.violations.push_back(where.str() + ": " + what);
  };
  for (const auto& answer : answers) {
    ++tally.answered;
    if (answer.body_case() == wire::Envelope::BODY_NOT_SET) violation("an answer without a body");
    if (answer.has_error()) {
      ++tally.errors;
      ++tally.by_code[wire::ErrorCode_Name(answer.error().code())];
      if (answer.error().code() == wire::ERROR_UNSPECIFIED) violation("an Error with code 0");
      if (answer.error().message().empty()) violation("an Error without a message");
      if (answer.error().code() == wire::INTERNAL || answer.error().code() == wire::UNAVAILABLE) {
        violation("the broker failed: " + answer.error().message());
      }
    } else {
      ++tally.successes;
      ++tally.by_body[BodyName(answer)];
    }
  }
  auto expect_one_error = [&](wire::ErrorCode code, std::optional<uint64_t> request_id) {
    if (answers.size() != 1) {
      violation("expected one " + wire::ErrorCode_Name(code) + " answer, got " +
                std::to_string(answers.size()));
      return;
    }
    const auto& answer = answers[0];
    if (!answer.has_error() || answer.error().code() != code) {
      violation("expected " + wire::ErrorCode_Name(code) + ", got " + BodyName(answer) + " " +
                (answer.has_error() ? wire::ErrorCode_Name(answer.error().code()) : ""));
    }
    if (request_id && answer.request_id() != *request_id) {
      violation("answer carries request id " + std::to_string(answer.request_id()) +
                " instead of " + std::to_string(*request_id));
    }
  };

  if (parts.size() > 1) return expect_one_error(wire::MALFORMED, 0);
  const std::string& frame = parts[0];
  auto decoded = DecodeEnvelope(frame.data(), frame.size(), kMaxFrameBytes);
  if (!decoded.ok()) {
    // The request id of an unparsable frame is 0, or what a well-formed prefix carried.
    std::optional<uint64_t> request_id = 0;
    wire::Envelope partial;
    if (frame.size() <= kMaxFrameBytes &&
        partial.ParsePartialFromArray(frame.data(), static_cast<int>(frame.size()))) {
      request_id = std::nullopt;
    }
    return expect_one_error(decoded.status().code(), request_id);
  }
  const wire::Envelope& request = *decoded;
  const std::string body = BodyName(request);
  const uint64_t request_id = request.request_id();
  auto success_body = SuccessBodyFor(body);
  if (body != "hello" && body != "ping" && !session.authenticated) {
    return expect_one_error(wire::NOT_AUTHENTICATED, request_id);
  }
  if (!success_body) return expect_one_error(wire::UNKNOWN_MESSAGE, request_id);
  if (body == "delivery_ack") {
    if (session.queues.count(request.delivery_ack().queue())) {
      if (!answers.empty()) violation("an acknowledgement of its own queue was answered");
      return;
    }
    return expect_one_error(wire::PERMISSION_DENIED, request_id);
  }
  if (answers.size() != 1) {
    return violation("expected one answer to " + body + ", got " + std::to_string(answers.size()));
  }
  const auto& answer = answers[0];
  if (answer.request_id() != request_id) {
    violation("answer to " + body + " carries request id " + std::to_string(answer.request_id()) +
              " instead of " + std::to_string(request_id));
  }
  if (!answer.has_error() && BodyName(answer) != *success_body) {
    violation(body + " answered with " + BodyName(answer));
  }
  if (answer.has_case_updated()) {
    auto named = CaseIdOfRequest(request);
    auto canonical = named ? NormalizeCaseId(*named) : std::nullopt;
    if (!canonical || *canonical != answer.case_updated().case_id()) {
      tally.wrong_case_answers.push_back(
          where.str() + ": " + request.ShortDebugString().substr(0, 300) + " answered " +
          answer.ShortDebugString().substr(0, 200));
    }
  }
  if (body == "hello") {
    if (answer.has_error() && answer.error().code() != wire::BAD_CREDENTIAL) {
      violation("Hello refused with " + wire::ErrorCode_Name(answer.error().code()));
    }
    if (answer.has_welcome()) {
      session.authenticated = true;
      session.queues = {answer.welcome().queues().begin(), answer.welcome().queues().end()};
    }
  }
}

// Says Hello (when the session has one) as an ordinary, judged message.
std::vector<std::string> HelloFrame(const RawSession& session, uint64_t request_id) {
  wire::Envelope envelope;
  envelope.set_request_id(request_id);
  *envelope.mutable_hello() = *session.hello;
  return {Serialize(envelope)};
}

wire::Hello MakeHello(wire::Role role, const std::string& principal, const std::string& territory = "") {
  wire::Hello hello;
  hello.set_role(role);
  hello.set_principal(principal);
  hello.set_territory(territory);
  hello.set_software("fuzz");
  return hello;
}

}  // namespace

TEST_CASE("random and mutated frames are answered with typed errors and change nothing") {
  // Frames with invalid UTF-8 in string fields make protobuf log each parse failure.
  pb::LogSilencer silence_protobuf;
  const char* seed_text = std::getenv("APLUS_FUZZ_SEED");
  const uint64_t seed = seed_text ? std::strtoull(seed_text, nullptr, 10) : 20240611;
  std::cout << "broker_fuzz_system_test seed " << seed << " (rerun with APLUS_FUZZ_SEED=" << seed
            << ")" << std::endl;

  auto started = StartNetwork("broker-fuzz", kNoRateLimit);  // the limit has its own test
  REQUIRE(started);
  TestNetwork& network = *started;

  // Cases recorded before the storm: submitted by a contact point and to a partner that no
  // fuzzing session can become.
  auto noce = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto op = network.BrokerClient(wire::OPERATOR, "operator");
  std::vector<std::string> recorded;
  for (int i = 0; i < 5; ++i) {
    auto accepted = noce->CallOk(
        SubmitRequest("Dossier témoin " + std::to_string(i), "witness-" + std::to_string(i), "cpam"),
        5000);
    REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
    recorded.push_back(accepted->accepted().case_id());
  }
  // One of them further along its lifecycle: cancelled.
  {
    wire::Envelope cancel;
    cancel.mutable_cancel_case()->set_case_id(recorded[4]);
    cancel.mutable_cancel_case()->set_reason("doublon");
    REQUIRE(noce->CallOk(cancel, 5000).ok());
  }
  auto views_now = [&](SyncClient& client) {
    std::map<std::string, std::string> views;
    for (const auto& id : recorded) {
      auto view = GetCaseView(client, id);
      REQUIRE_MESSAGE(view.ok(), view.status().ToString());
      views[id] = Serialize(*view);
    }
    return views;
  };
  const auto agent_views = views_now(*noce);
  const auto operator_views = views_now(*op);

  // The storm: four raw connections, one never authenticated, the others as an agent gateway of
  // another contact point, a partner gateway of another partner, and an operator.
  FrameFactory factory(seed, recorded);
  zmq::context_t& context = network.context();
  std::vector<RawSession> sessions(4);
  sessions[0].label = "unauthenticated";
  sessions[1].label = "agent mairie-berdhuis";
  sessions[1].hello = MakeHello(wire::AGENT_GATEWAY, "mairie-berdhuis");
  sessions[2].label = "partner msa";
  sessions[2].hello = MakeHello(wire::PARTNER_GATEWAY, "msa");
  sessions[3].label = "operator";
  sessions[3].hello = MakeHello(wire::OPERATOR, "operator");
  // Each connection holds the CURVE key of the principal it plays; the one that never says
  // Hello holds another contact point's.
  sessions[0].socket = Connect(context, network.broker_endpoint(),
                               network.Keys(wire::AGENT_GATEWAY, "mairie-bretoncelles"));
  for (size_t i = 1; i < sessions.size(); ++i) {
    const wire::Hello& hello = *sessions[i].hello;
    sessions[i].socket = Connect(context, network.broker_endpoint(),
                                 network.Keys(hello.role(), hello.principal(), hello.territory()));
  }

  Tally tally;
  // Special shapes in the first chunk of every connection: the exact size limit, one byte over
  // it, an oversize frame, and an envelope of every body type with an empty body.
  auto specials = [&](const RawSession& session) {
    std::vector<std::vector<std::string>> messages;
    for (size_t target : {kMaxFrameBytes, kMaxFrameBytes + 1}) {
      wire::Envelope envelope;
      envelope.set_request_id(factory.RandomRequestId());
      envelope.mutable_submit()->set_subject("limite");
      size_t body = target - 64;
      envelope.mutable_submit()->set_body(std::string(body, 'b'));
      while (envelope.ByteSizeLong() != target) {
        body += target > envelope.ByteSizeLong() ? target - envelope.ByteSizeLong() : -1;
        envelope.mutable_submit()->set_body(std::string(body, 'b'));
      }
      messages.push_back({Serialize(envelope)});
    }
    messages.push_back({std::string(kMaxFrameBytes + 4096, '\x0a')});
    const auto* oneof = wire::Envelope::descriptor()->FindOneofByName("body");
    for (int i = 0; i < oneof->field_count(); ++i) {
      if (oneof->field(i)->name() == "hello" && !session.hello) continue;
      wire::Envelope envelope;
      envelope.set_request_id(factory.RandomRequestId());
      envelope.GetReflection()->MutableMessage(&envelope, oneof->field(i));  // empty body
      messages.push_back({Serialize(envelope)});
    }
    return messages;
  };

  int64_t storm_started = SteadyNowMs();
  bool broker_alive = true;
  for (int round = 0; broker_alive && round * kChunk < kFramesPerSession; ++round) {
    for (auto& session : sessions) {
      std::vector<std::vector<std::string>> batch;
      // Sessions that should hold one start each chunk with their own Hello (a fuzzed Hello
      // may have replaced or kept it).
      if (session.hello) batch.push_back(HelloFrame(session, factory.RandomRequestId()));
      if (round == 0) {
        auto special = specials(session);
        batch.insert(batch.end(), special.begin(), special.end());
      }
      while (static_cast<int>(batch.size()) < kChunk) {
        batch.push_back(factory.Next(session.hello.has_value()));
      }
      // Frames are sent ahead of their reading, each followed by a barrier Ping; a read of
      // every case is sent alone (what was sent before it read first), so that an answer
      // coming after its barrier can only be its own.
      std::vector<uint64_t> barriers(batch.size());
      size_t read_up_to = 0;  // frames before this one have been read and judged
      auto read_sent = [&](size_t end, bool last_may_follow) {
        for (; read_up_to < end && broker_alive; ++read_up_to) {
          const size_t i = read_up_to;
          std::vector<std::string> bad_answers;
          auto answers = ReadUntilBarrier(*session.socket, barriers[i], bad_answers,
                                          last_may_follow && i + 1 == end);
          if (!answers) {
            FAIL_CHECK(session.label << ": no answer to the barrier Ping within 15 s after ["
                                     << Hex(batch[i][0]) << "]");
            broker_alive = false;
            break;
          }
          if (!bad_answers.empty()) {
            ++tally.frames;
            wire::Envelope request;
            std::string shown = batch[i].size() == 1 && request.ParseFromString(batch[i][0])
                                    ? request.ShortDebugString().substr(0, 300)
                                    : Hex(batch[i][0]);
            for (const auto& bad : bad_answers) {
              tally.unreadable_answers.push_back(session.label + ": " + shown + " answered with " + bad);
            }
            continue;
          }
          Judge(session, batch[i], *answers, tally);
        }
      };
      for (size_t i = 0; i < batch.size() && broker_alive; ++i) {
        const bool reads_every_case = ReadsEveryCase(batch[i]);
        if (reads_every_case) read_sent(i, false);
        if (!broker_alive) break;
        barriers[i] = session.next_barrier++;
        wire::Envelope ping;
        ping.set_request_id(barriers[i]);
        ping.mutable_ping();
        REQUIRE(SendParts(*session.socket, batch[i]));
        REQUIRE(SendParts(*session.socket, {Serialize(ping)}));
        if (reads_every_case) read_sent(i + 1, true);
      }
      read_sent(batch.size(), false);
      if (!broker_alive) break;
    }
  }
  // A frame above ZeroMQ's own hard limit: the broker drops that connection, nothing more.
  {
    auto operator_keys = network.Keys(wire::OPERATOR, "operator");
    auto socket = Connect(context, network.broker_endpoint(), operator_keys);
    REQUIRE(SendParts(*socket, {std::string(17 << 20, 'z')}));
    SyncClient after_giant(context, network.broker_endpoint(), std::nullopt, operator_keys);
    CHECK(after_giant.CallOk(PingRequest(), 5000).ok());
  }
  std::cout << "fuzz: " << tally.frames << " messages in " << (SteadyNowMs() - storm_started)
            << " ms; " << tally.answered << " answers (" << tally.successes << " valid bodies, "
            << tally.errors << " errors:";
  for (const auto& [code, count] : tally.by_code) std::cout << " " << code << "=" << count;
  std::cout << "; valid:";
  for (const auto& [body, count] : tally.by_body) std::cout << " " << body << "=" << count;
  std::cout << ")" << std::endl;

  CHECK(tally.frames >= 10000);
  for (size_t i = 0; i < std::min<size_t>(tally.violations.size(), 25); ++i) {
    FAIL_CHECK(tally.violations[i]);
  }
  CHECK_MESSAGE(tally.violations.empty(), tally.violations.size() << " protocol violations");
  for (size_t i = 0; i < std::min<size_t>(tally.wrong_case_answers.size(), 5); ++i) {
    FAIL_CHECK(tally.wrong_case_answers[i]);
  }
  CHECK_MESSAGE(tally.wrong_case_answers.empty(),
                tally.wrong_case_answers.size() << " answers report a change to another case");
  for (size_t i = 0; i < std::min<size_t>(tally.unreadable_answers.size(), 5); ++i) {
    FAIL_CHECK(tally.unreadable_answers[i]);
  }
  CHECK_MESSAGE(tally.unreadable_answers.empty(),
                tally.unreadable_answers.size() << " answers a client cannot read");
  for (const char* code : {"MALFORMED", "TOO_LARGE", "NOT_AUTHENTICATED", "UNKNOWN_MESSAGE",
                           "PERMISSION_DENIED", "UNKNOWN_CASE", "INVALID_ARGUMENT"}) {
    CHECK_MESSAGE(tally.by_code[code] > 0, "the storm never provoked " << code);
  }
  REQUIRE_MESSAGE(network.broker().Running(), network.broker().Log().substr(0, 2000));
  sessions.clear();

  {
    auto stats = OperatorStats(*op);
    REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
    CHECK(stats->errors_answered() >= tally.errors);
  }

  // The recorded cases are exactly as they were.
  CHECK(views_now(*noce) == agent_views);
  CHECK(views_now(*op) == operator_views);
  auto listed = ListAllCaseIds(*noce);
  REQUIRE(listed.ok());
  CHECK(*listed == std::set<std::string>(recorded.begin(), recorded.end()));

  // A normal round trip still works: submit, deliver, acknowledge, reply, mail, close.
  auto accepted = noce->CallOk(SubmitRequest("Après la tempête", "after-storm"), 5000);
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  const std::string case_id = accepted->accepted().case_id();
  auto partner = network.BrokerClient(wire::PARTNER_GATEWAY, "france-travail");
  REQUIRE(partner->CallOk(SubscribeRequest(64), 5000).ok());
  bool delivered = false;
  while (!delivered) {
    auto delivery = NextDelivery(*partner, 5000);
    REQUIRE_MESSAGE(delivery, "the round-trip case was never delivered");
    REQUIRE(AckDelivery(*partner, *delivery).ok());  // fuzz-made cases of this partner, too
    delivered = delivery->escalation().case_id() == case_id;
  }
  REQUIRE(partner->CallOk(AcknowledgeRequest(case_id, "reçu"), 5000).ok());
  REQUIRE(partner->CallOk(ReplyRequest(case_id, "Traité."), 5000).ok());
  REQUIRE(noce->CallOk(SubscribeRequest(8), 5000).ok());
  auto first = NextDelivery(*noce);
  REQUIRE(first);
  CHECK(first->mail().case_id() == case_id);
  CHECK(first->mail().kind() == wire::MailItem::ACKNOWLEDGED);
  auto second = NextDelivery(*noce);
  REQUIRE(second);
  CHECK(second->mail().kind() == wire::MailItem::REPLY);
  CHECK(second->mail().text() == "Traité.");
  REQUIRE(AckDeliveries(*noce, "mailbox/mairie-perche-en-noce",
                        {first->delivery_id(), second->delivery_id()})
              .ok());
  wire::Envelope close;
  close.mutable_close_case()->set_case_id(case_id);
  auto closed = noce->CallOk(close, 5000);
  REQUIRE_MESSAGE(closed.ok(), closed.status().ToString());
  CHECK(closed->case_updated().state() == wire::CLOSED);
  auto view = GetCaseView(*noce, case_id);
  REQUIRE(view.ok());
  CHECK(TimelineProblem(*view).empty());
  CHECK(view->timeline_size() == 5);

  CHECK(network.broker().Running());
  // And after a SIGKILL, the recorded cases are still exactly as they were.
  REQUIRE_MESSAGE(RestartBroker(network), network.broker().Log().substr(0, 2000));
  auto noce_after = network.BrokerClient(wire::AGENT_GATEWAY, "mairie-perche-en-noce");
  auto op_after = network.BrokerClient(wire::OPERATOR, "operator");
  CHECK(views_now(*noce_after) == agent_views);
  CHECK(views_now(*op_after) == operator_views);
}

// Regression found by the storm above: a report filtered on a partner that matches nothing must
// still be a readable answer (an empty Report, or a typed Error), not an envelope without a body
// that every client drops as MALFORMED and then waits for until its timeout.
TEST_CASE("a report for a partner that matches nothing is still an answer") {
  auto started = StartNetwork("broker-fuzz-report");
  REQUIRE(started);
  auto op = started->BrokerClient(wire::OPERATOR, "operator");
  wire::Envelope request;
  request.mutable_get_report()->set_partner("nobody");
  auto answer = op->Call(request, 3000);
  CHECK_MESSAGE(answer.ok(), "no readable answer: " << answer.status().ToString());
  if (answer.ok()) CHECK((answer->has_report() || answer->has_error()));
}

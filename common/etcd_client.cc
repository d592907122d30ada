// etcd 3.4's JSON gateway (grpc-gateway in front of the v3 gRPC API), as checked against
// etcd 3.4.23:
// - Every call is a POST of one JSON object to /v3/<service>/<method>; keys and values are
//   base64 in both directions; int64 fields (revisions, lease ids, TTLs) come as JSON strings;
//   fields at their zero value are omitted (an absent "succeeded" means false, an absent
//   "create_revision" means 0, a keep-alive of a lost lease has no "TTL").
// - /v3/lease/keepalive is a bidirectional stream in gRPC. The gateway reads one request from
//   the body and answers one message wrapped as {"result": {...}} (stream framing) and ends the
//   response: one keep-alive per HTTP exchange, which is what KeepAlive() needs.
// - etcd's errors: a non-200 status with {"error": "...", "message": "...", "code": N} (gRPC
//   code N), or, on the stream's endpoint, {"error": {"grpc_code": N, "message": "..."}}.
//
// One TCP connection per call: the calls are rare (a keep-alive every 500 ms, a poll every
// 250 ms), and a fresh connection never inherits a half-dead one from a stopped member.
#include "common/etcd_client.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <thread>

#include "common/http_post.h"

namespace aplus {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr size_t kMaxResponseBodyBytes = 4 * 1024 * 1024;

// gRPC codes after which another member may do better (this one has no leader, lost its
// quorum, or timed out); any other etcd error is the answer of the cluster.
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcUnavailable = 14;

struct Member {
  std::string host;
  std::string port;
  std::string url;  // as given, for messages
};

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// An int64 field: a JSON string (the gateway's encoding), a number, or absent (zero).
int64_t Int64Field(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

// A string or bool field, or `fallback` when absent or of another type (an answer from
// something that is not etcd must not throw).
std::string StringField(const Json& object, const char* name, std::string fallback = "") {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool BoolField(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

Result<EtcdKeyValue> KeyValueFromJson(const Json& kv) {
  EtcdKeyValue out;
  auto key = Base64Decode(StringField(kv, "key"));
  auto value = Base64Decode(StringField(kv, "value"));
  if (!key || !value) return Status(wire::UNAVAILABLE, "etcd answered a malformed key or value");
  out.key = std::move(*key);
  out.value = std::move(*value);
  out.create_revision = Int64Field(kv, "create_revision");
  out.mod_revision = Int64Field(kv, "mod_revision");
  out.lease = Int64Field(kv, "lease");
  return out;
}

Json OpToJson(const EtcdOp& op) {
  switch (op.kind) {
    case EtcdOp::Kind::kPut: {
      Json put = {{"key", Base64Encode(op.key)}, {"value", Base64Encode(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      return {{"request_put", put}};
    }
    case EtcdOp::Kind::kDelete:
      return {{"request_delete_range", {{"key", Base64Encode(op.key)}}}};
    case EtcdOp::Kind::kGet:
      return {{"request_range", {{"key", Base64Encode(op.key)}}}};
  }
  return {};
}

Json CompareToJson(const EtcdCompare& compare) {
  Json out = {{"key", Base64Encode(compare.key)}, {"result", "EQUAL"}};
  switch (compare.target) {
    case EtcdCompare::Target::kCreateRevision:
      out["target"] = "CREATE";
      out["create_revision"] = std::to_string(compare.revision);
      break;
    case EtcdCompare::Target::kModRevision:
      out["target"] = "MOD";
      out["mod_revision"] = std::to_string(compare.revision);
      break;
    case EtcdCompare::Target::kValue:
      out["target"] = "VALUE";
      out["value"] = Base64Encode(compare.value);
      break;
  }
  return out;
}

// POST `body` to `target` on `member`, all of it before `deadline`.
HttpPostResult Post(const Member& member, const std::string& target, const std::string& body,
                    SteadyClock::time_point deadline) {
  HttpPostRequest request;
  request.host = member.host;
  request.port = member.port;
  request.target = target;
  request.host_header = member.host + ":" + member.port;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body;
  request.max_response_body_bytes = kMaxResponseBodyBytes;
  return PostOnce(request, deadline);
}

// Why a member gave no answer, for messages: "<step>: <reason>".
std::string TransportError(const HttpPostResult& posted) {
  return posted.step + ": " +
         (posted.failure == HttpPostFailure::kTimeout ? std::string("no answer within the deadline")
                                                      : posted.error);
}

// etcd's error in an answer, or nullopt when the answer is a success. `retry_elsewhere` says
// whether another member may answer better.
struct EtcdError {
  std::string message;
  bool retry_elsewhere = false;
};

std::optional<EtcdError> ErrorOf(int status, const Json& body) {
  const Json* error = nullptr;
  auto it = body.find("error");
  if (it != body.end()) error = &*it;
  if (error == nullptr && status == 200) return std::nullopt;
  EtcdError out;
  int code = 0;
  if (error != nullptr && error->is_object()) {  // the stream's framing
    out.message = StringField(*error, "message");
    code = static_cast<int>(Int64Field(*error, "grpc_code"));
  } else {
    out.message = StringField(body, "message",
                              error != nullptr && error->is_string() ? error->get<std::string>()
                                                                     : std::string());
    code = static_cast<int>(Int64Field(body, "code"));
  }
  if (out.message.empty()) out.message = "HTTP status " + std::to_string(status);
  out.retry_elsewhere = code == kGrpcUnavailable || code == kGrpcDeadlineExceeded ||
                        (code == 0 && status >= 500);
  return out;
}

class EtcdGatewayClient final : public EtcdClient {
 public:
  EtcdGatewayClient(std::vector<Member> members, int timeout_ms)
      : members_(std::move(members)), timeout_(std::chrono::milliseconds(timeout_ms)) {}

  Result<int64_t> GrantLease(int64_t ttl_seconds) override {
    auto answer = Call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}});
    if (!answer.ok()) return answer.status();
    int64_t id = Int64Field(*answer, "ID");
    if (id == 0) return Status(wire::UNAVAILABLE, "etcd granted no lease");
    return id;
  }

  Result<int64_t> KeepAlive(int64_t lease, std::chrono::milliseconds timeout) override {
    auto answer = Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, timeout);
    if (!answer.ok()) return answer.status();
    auto result = answer->find("result");
    if (result == answer->end() || !result->is_object()) {
      return Status(wire::UNAVAILABLE, "etcd's keep-alive answer has no result");
    }
    return Int64Field(*result, "TTL");  // absent: the lease is gone
  }

  Status RevokeLease(int64_t lease) override {
    auto answer = Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
    return answer.ok() ? Status::Ok() : answer.status();
  }

  Result<std::optional<EtcdKeyValue>> Get(std::string_view key, int64_t* revision) override {
    auto answer = Call("/v3/kv/range", {{"key", Base64Encode(key)}});
    if (!answer.ok()) return answer.status();
    if (revision != nullptr) *revision = HeaderRevision(*answer);
    auto kvs = answer->find("kvs");
    if (kvs == answer->end() || !kvs->is_array() || kvs->empty()) {
      return std::optional<EtcdKeyValue>();
    }
    auto kv = KeyValueFromJson(kvs->front());
    if (!kv.ok()) return kv.status();
    return std::optional<EtcdKeyValue>(std::move(kv).value());
  }

  Result<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compare,
                            const std::vector<EtcdOp>& success,
                            const std::vector<EtcdOp>& failure) override {
    Json request = {{"compare", Json::array()}, {"success", Json::array()},
                    {"failure", Json::array()}};
    for (const auto& c : compare) request["compare"].push_back(CompareToJson(c));
    for (const auto& op : success) request["success"].push_back(OpToJson(op));
    for (const auto& op : failure) request["failure"].push_back(OpToJson(op));
    auto answer = Call("/v3/kv/txn", request);
    if (!answer.ok()) return answer.status();
    EtcdTxnResult out;
    out.succeeded = BoolField(*answer, "succeeded");
    out.revision = HeaderRevision(*answer);
    auto responses = answer->find("responses");
    if (responses != answer->end() && responses->is_array()) {
      for (const auto& response : *responses) {
        auto range = response.find("response_range");
        if (range == response.end()) continue;
        auto kvs = range->find("kvs");
        if (kvs == range->end() || !kvs->is_array()) continue;
        for (const auto& kv : *kvs) {
          auto parsed = KeyValueFromJson(kv);
          if (!parsed.ok()) return parsed.status();
          out.read.push_back(std::move(parsed).value());
        }
      }
    }
    return out;
  }

 private:
  static int64_t HeaderRevision(const Json& answer) {
    auto header = answer.find("header");
    return header != answer.end() && header->is_object() ? Int64Field(*header, "revision") : 0;
  }

  // Posts `request` to the member that answered last, then to the others in turn, round after
  // round until the deadline (a cluster electing a leader answers "no leader" for a second or
  // two). Each try gets an equal share of what is left of the deadline for the round, so that
  // a member that accepts the connection but never answers (stopped) leaves time for the others.
  Result<Json> Call(const std::string& target, const Json& request) {
    return Call(target, request, timeout_);
  }
  Result<Json> Call(const std::string& target, const Json& request,
                    std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    const std::string body = request.dump();
    std::optional<std::string> etcd_error;  // the last error an etcd member answered
    std::string transport_error;            // the last member that did not answer, and why
    const size_t n = members_.size();
    while (SteadyClock::now() < deadline) {
      const size_t first = preferred_;
      for (size_t tried = 0; tried < n; ++tried) {
        const auto now = SteadyClock::now();
        if (now >= deadline) break;
        const size_t index = (first + tried) % n;
        const auto share = (deadline - now) / static_cast<int64_t>(n - tried);
        HttpPostResult exchange = Post(members_[index], target, body, now + share);
        if (!exchange.answered()) {
          transport_error = members_[index].url + " " + TransportError(exchange);
          continue;
        }
        Json answer = Json::parse(exchange.body, nullptr, /*allow_exceptions=*/false);
        if (answer.is_discarded() || !answer.is_object()) {
          etcd_error = members_[index].url + " answered HTTP " +
                       std::to_string(exchange.status) + " without JSON";
          if (exchange.status >= 500) continue;
          return Status(wire::UNAVAILABLE, *etcd_error);
        }
        if (auto error = ErrorOf(exchange.status, answer)) {
          etcd_error = "etcd: " + error->message;
          if (error->retry_elsewhere) continue;
          preferred_ = index;
          return Status(wire::UNAVAILABLE, *etcd_error);
        }
        preferred_ = index;
        return answer;
      }
      // Nobody answered well this round: a short pause, not a busy loop on refused ports.
      const auto pause = std::min<SteadyClock::duration>(std::chrono::milliseconds(50),
                                                         deadline - SteadyClock::now());
      if (pause > SteadyClock::duration::zero()) std::this_thread::sleep_for(pause);
    }
    if (etcd_error) return Status(wire::UNAVAILABLE, *etcd_error);
    return Status(wire::UNREACHABLE,
                  "no etcd member answered within " + std::to_string(timeout.count()) + " ms" +
                      (transport_error.empty() ? "" : " (last: " + transport_error + ")"));
  }

  const std::vector<Member> members_;
  const std::chrono::milliseconds timeout_;
  size_t preferred_ = 0;  // the member that answered last
};

Result<Member> ParseMember(std::string_view text) {
  std::string url(text);
  if (url.rfind("http://", 0) != 0) {
    return Status(wire::INVALID_ARGUMENT, "etcd URL must start with http://: \"" + url + "\"");
  }
  std::string authority = url.substr(7);
  if (!authority.empty() && authority.back() == '/') authority.pop_back();
  if (authority.find_first_of("/?#@") != std::string::npos) {
    return Status(wire::INVALID_ARGUMENT, "etcd URL must be http://host:port: \"" + url + "\"");
  }
  Member member;
  member.url = url;
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [::1]:2379
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      return Status(wire::INVALID_ARGUMENT, "etcd URL has a malformed host: \"" + url + "\"");
    }
    member.host = authority.substr(1, close - 1);
    colon = authority.find(':', close);
  } else {
    member.host = authority.substr(0, colon);
  }
  member.port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  if (member.host.empty()) {
    return Status(wire::INVALID_ARGUMENT, "etcd URL has no host: \"" + url + "\"");
  }
  if (member.port.empty() || member.port.size() > 5 ||
      member.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(member.port) == 0 || std::stoi(member.port) > 65535) {
    return Status(wire::INVALID_ARGUMENT, "etcd URL needs a port 1-65535: \"" + url + "\"");
  }
  return member;
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(std::string_view urls, int timeout_ms) {
  if (timeout_ms <= 0) return Status(wire::INVALID_ARGUMENT, "etcd timeout must be positive");
  std::vector<Member> members;
  size_t start = 0;
  while (start <= urls.size()) {
    size_t comma = urls.find(',', start);
    std::string_view item =
        urls.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) return Status(wire::INVALID_ARGUMENT, "etcd URL list has an empty entry");
    auto member = ParseMember(item);
    if (!member.ok()) return member.status();
    members.push_back(std::move(member).value());
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::unique_ptr<EtcdClient>(new EtcdGatewayClient(std::move(members), timeout_ms));
}

}  // namespace aplus

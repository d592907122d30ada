// What every `aplus` subcommand shares: the global flags, the exit codes and the one way a
// request is sent and its failure reported.
#pragma once

#include <google/protobuf/message.h>

#include <optional>
#include <string>

#include "aplus.pb.h"
#include "common/curve_client.h"
#include "common/network_config.h"
#include "common/status.h"

namespace aplus::cli {

// Exit codes (docs/PROGRAMS.md): scripts rely on them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitErrorAnswer = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

// Filled by CLI11 once, then read-only.
struct GlobalOptions {
  bool json = false;
  std::string agent_gateway = "tcp://127.0.0.1:7410";
  std::string partner_gateway = "tcp://127.0.0.1:7420";
  std::string broker = "tcp://127.0.0.1:7400";
  std::string alerts = "tcp://127.0.0.1:7401";  // the broker's PUB socket of SLA alerts
  std::string config_path;  // network config for local computations; "" = the built-in one
  std::string operator_id = "operator";  // said in Hello only without keys (--insecure broker)
  // CURVE towards the broker (operator commands): this person's key pair file and the
  // broker's public key; defaults from APLUS_KEY and APLUS_BROKER_KEY. Both empty = plain.
  std::string key_file;
  std::string broker_key;
  int timeout_ms = 5000;
};

// Sends `request` to `endpoint` (saying `hello` first when set) and waits up to
// options.timeout_ms. Returns the answer when its body is `expected`; otherwise the Status to
// report: the typed error of an Error answer, UNREACHABLE when nothing answered in time,
// INTERNAL for an answer of the wrong kind. Never throws.
Result<wire::Envelope> Exchange(const GlobalOptions& options, const std::string& endpoint,
                                std::optional<wire::Hello> hello, wire::Envelope request,
                                wire::Envelope::BodyCase expected);

// Reports `status` (not OK) as the JSON error object on stdout under --json, else as one line
// `aplus: CODE: message` on stderr. Returns the exit code: 3 for UNREACHABLE, 1 otherwise.
int ReportFailure(const GlobalOptions& options, const Status& status);

// Prints the answer `message`: one JSON object under --json, else `human` as given.
// Returns kExitOk.
int PrintAnswer(const GlobalOptions& options, const google::protobuf::Message& message,
                const std::string& human);

// The network config for computations the CLI makes itself (`aplus deadline`): the file named
// by --config, else the built-in network. INVALID_ARGUMENT when the file cannot be read or
// parsed (the caller reports it as a usage error: the flag's value is wrong).
Result<NetworkConfig> LoadConfig(const GlobalOptions& options);

// The CURVE keys of --key/--broker-key (nullopt = plain); INVALID_ARGUMENT for a bad key file.
Result<std::optional<CurveClientKeys>> BrokerKeys(const GlobalOptions& options);

// The Hello of every operator request (stats, alerts, report, audit): empty with CURVE keys
// (the broker knows who holds the key), Hello{role OPERATOR, principal --operator} without.
wire::Hello OperatorHello(const GlobalOptions& options);

// What a person typed as a case: the canonical case id when it reads as one ("per-7k3m-q9xd"
// -> "PER-7K3M-Q9XD"), a local ref with its "LOC-" prefix in upper case, else the text
// unchanged.
std::string CaseRef(const std::string& typed);

// `given` when the user chose a key, else a fresh random one: every mutating request carries
// a key so that a request the transport resends counts once.
std::string IdempotencyKeyOr(const std::string& given);

}  // namespace aplus::cli

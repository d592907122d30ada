#include "tools/aplus/global_options.h"

#include <strings.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <zmq.hpp>

#include "common/case_id.h"
#include "common/sync_client.h"
#include "common/wire.h"
#include "tools/aplus/output.h"

namespace aplus::cli {

Result<wire::Envelope> Exchange(const GlobalOptions& options, const std::string& endpoint,
                                std::optional<wire::Hello> hello, wire::Envelope request,
                                wire::Envelope::BodyCase expected) {
  try {
    // The context is declared first so that it outlives the client's socket.
    zmq::context_t context(1);
    // Only the broker session (the one with a Hello) is CURVE; gateways' local endpoints are
    // plain and bound to loopback.
    std::optional<CurveClientKeys> curve;
    if (hello) {
      auto keys = BrokerKeys(options);
      if (!keys.ok()) return keys.status();
      curve = std::move(keys).value();
    }
    bool plain_to_broker = hello && !curve;
    SyncClient client(context, endpoint, std::move(hello), std::move(curve));
    auto answer = client.CallOk(std::move(request), options.timeout_ms);
    if (!answer.ok()) {
      if (plain_to_broker && answer.status().code() == wire::UNREACHABLE) {
        return Status(wire::UNREACHABLE,
                      answer.status().message() +
                          " (a broker with CURVE ignores clients without keys: give --key FILE "
                          "and --broker-key FILE, or set APLUS_KEY and APLUS_BROKER_KEY)");
      }
      return answer.status();
    }
    if (answer->body_case() != expected) {
      return Status(wire::INTERNAL,
                    endpoint + " answered with an unexpected " + BodyName(*answer) + " message");
    }
    return answer;
  } catch (const zmq::error_t& e) {
    // Only a malformed endpoint gets here (connect rejects it); a missing peer is a timeout.
    return Status(wire::INVALID_ARGUMENT, "cannot use endpoint " + endpoint + ": " + e.what());
  }
}

int ReportFailure(const GlobalOptions& options, const Status& status) {
  if (options.json) {
    std::cout << ErrorJson(status) << std::endl;
  } else {
    std::cerr << "aplus: " << OneLine(status.ToString()) << std::endl;
  }
  return status.code() == wire::UNREACHABLE ? kExitUnreachable : kExitErrorAnswer;
}

int PrintAnswer(const GlobalOptions& options, const google::protobuf::Message& message,
                const std::string& human) {
  if (options.json) {
    std::cout << MessageJson(message) << std::endl;
  } else {
    std::cout << human << std::flush;
  }
  return kExitOk;
}

Result<NetworkConfig> LoadConfig(const GlobalOptions& options) {
  if (options.config_path.empty()) return DefaultNetworkConfig();
  return LoadNetworkConfig(options.config_path);
}

Result<std::optional<CurveClientKeys>> BrokerKeys(const GlobalOptions& options) {
  return LoadCurveClientKeys(options.key_file, options.broker_key);
}

wire::Hello OperatorHello(const GlobalOptions& options) {
  wire::Hello hello;
  if (options.key_file.empty()) {
    hello.set_role(wire::OPERATOR);
    hello.set_principal(options.operator_id);
  }
  hello.set_software("aplus command line");
  return hello;
}

std::string CaseRef(const std::string& typed) {
  auto canonical = NormalizeCaseId(typed);
  if (canonical) return *canonical;
  // The agent gateway's local refs read "LOC-<n>"; accept them typed in lower case too.
  if (typed.size() > 4 && strncasecmp(typed.c_str(), "loc-", 4) == 0) {
    return "LOC-" + typed.substr(4);
  }
  return typed;
}

std::string IdempotencyKeyOr(const std::string& given) {
  if (!given.empty()) return given;
  std::random_device device;
  std::uniform_int_distribution<uint64_t> any;
  uint64_t high = any(device);
  uint64_t low = any(device);
  char text[48];
  std::snprintf(text, sizeof(text), "aplus-cli-%016llx%016llx",
                static_cast<unsigned long long>(high), static_cast<unsigned long long>(low));
  return text;
}

}  // namespace aplus::cli

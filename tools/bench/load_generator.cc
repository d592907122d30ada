#include "tools/bench/load_generator.h"

#include <random>

namespace aplus::bench {

std::string EscalationBody(size_t bytes) {
  static const std::string kText =
      "Madame X. se presente a la mairie : son allocation est suspendue depuis octobre, "
      "elle a envoye trois fois son attestation sans reponse et ne peut plus se deplacer "
      "jusqu'a l'agence. Pieces jointes : avis de situation, courrier du 12, RIB. ";
  std::string body;
  while (body.size() < bytes) body += kText;
  body.resize(bytes);
  return body;
}

std::vector<std::string> PartnerIds(const NetworkConfig& config) {
  std::vector<std::string> ids;
  for (const auto& partner : config.partners) ids.push_back(partner.id);
  return ids;
}

std::string RandomTag() {
  std::random_device device;
  char text[17];
  std::snprintf(text, sizeof text, "%08x%08x", device(), device());
  return text;
}

LoadGenerator::LoadGenerator(zmq::context_t& context, std::string endpoint,
                             const NetworkConfig& config, Workload workload, GeneratorShape shape)
    : workload_(std::move(workload)) {
  uint32_t threads = std::max<uint32_t>(1, shape.threads);
  std::vector<std::vector<AgentConnectionSpec>> agents(threads);
  std::vector<std::vector<PartnerConnectionSpec>> partners(threads);
  size_t index = 0;
  for (uint32_t copy = 0; copy < std::max<uint32_t>(1, shape.connections_per_contact_point);
       ++copy) {
    for (const auto& contact_point : config.contact_points) {
      AgentConnectionSpec spec;
      spec.index = index;
      spec.contact_point = contact_point.id;
      for (const auto& agent : contact_point.agents) spec.agents.push_back(agent.id);
      if (spec.agents.empty()) continue;  // a contact point without agents cannot submit
      agents[index % threads].push_back(std::move(spec));
      ++index;
    }
  }
  agent_connections_ = index;
  workload_.total_agent_connections = std::max<size_t>(1, index);
  size_t partner_index = 0;
  for (const auto& partner : config.partners) {
    PartnerConnectionSpec spec;
    spec.partner = partner.id;
    // A per-territory partner's gateway serves one territory; the bench plays one gateway per
    // territory so that every queue of the partner is drained.
    std::vector<std::string> territories = {""};
    if (partner.per_territory) {
      territories.clear();
      for (const auto& territory : config.territories) territories.push_back(territory.id);
    }
    for (const auto& territory : territories) {
      spec.territory = territory;
      // Partners go to threads in the opposite order, so that thread loads stay even.
      partners[(threads - 1) - partner_index % threads].push_back(spec);
      ++partner_index;
    }
  }
  partner_connections_ = partner_index;
  for (uint32_t t = 0; t < threads; ++t) {
    workers_.push_back(std::make_unique<LoadWorker>(context, endpoint, workload_, control_,
                                                    std::move(agents[t]),
                                                    std::move(partners[t])));
  }
}

LoadGenerator::~LoadGenerator() { Stop(); }

Status LoadGenerator::Connect(int timeout_ms) {
  for (auto& worker : workers_) worker->Start();
  size_t expected = agent_connections_ + partner_connections_;
  bool ready = WaitFor(
      [&](const LoadTotals& totals) {
        return totals.ready_connections == expected || totals.failed_connections > 0;
      },
      timeout_ms);
  LoadTotals totals = Totals();
  if (totals.failed_connections > 0) {
    return Status(wire::BAD_CREDENTIAL, std::to_string(totals.failed_connections) +
                                            " connection(s) refused by the broker (Hello or "
                                            "Subscribe answered with an error)");
  }
  if (!ready) {
    return Status(wire::UNREACHABLE, "only " + std::to_string(totals.ready_connections) + " of " +
                                         std::to_string(expected) +
                                         " connections were welcomed in time");
  }
  return Status::Ok();
}

LoadTotals LoadGenerator::Totals() const {
  LoadTotals totals;
  auto get = [](const std::atomic<uint64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  for (const auto& worker : workers_) {
    const LoadCounters& c = worker->counters();
    totals.submits_sent += get(c.submits_sent);
    totals.accepted += get(c.accepted);
    totals.duplicates += get(c.duplicates);
    totals.errors += get(c.errors);
    totals.outstanding += get(c.outstanding);
    totals.deliveries += get(c.deliveries);
    totals.redeliveries += get(c.redeliveries);
    totals.acked += get(c.acked);
    totals.send_would_block += get(c.send_would_block);
    totals.unexpected += get(c.unexpected);
    totals.pongs += get(c.pongs);
    totals.ready_connections += get(c.ready_connections);
    totals.failed_connections += get(c.failed_connections);
    for (size_t i = 0; i < kErrorCodeSlots; ++i) totals.errors_by_code[i] += get(c.errors_by_code[i]);
  }
  return totals;
}

bool LoadGenerator::Flush(int timeout_ms) {
  uint64_t before = Totals().pongs;
  control_.flush_generation.fetch_add(1);
  size_t expected = agent_connections_ + partner_connections_;
  return WaitFor([&](const LoadTotals& totals) { return totals.pongs >= before + expected; },
                 timeout_ms);
}

void LoadGenerator::Stop() {
  if (stopped_) return;
  stopped_ = true;
  control_.stop.store(true);
  for (auto& worker : workers_) worker->Join();
}

std::vector<int64_t> LoadGenerator::TakeAcceptSamples() {
  std::vector<int64_t> all;
  for (auto& worker : workers_) {
    auto& samples = worker->accept_samples();
    all.insert(all.end(), samples.begin(), samples.end());
    samples.clear();
  }
  return all;
}

std::vector<int64_t> LoadGenerator::TakeDeliverySamples() {
  std::vector<int64_t> all;
  for (auto& worker : workers_) {
    auto& samples = worker->delivery_samples();
    all.insert(all.end(), samples.begin(), samples.end());
    samples.clear();
  }
  return all;
}

std::vector<KnownCase> LoadGenerator::KnownCases() const {
  std::vector<KnownCase> all;
  for (const auto& worker : workers_) {
    all.insert(all.end(), worker->known_cases().begin(), worker->known_cases().end());
  }
  return all;
}

}  // namespace aplus::bench

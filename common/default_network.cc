// The built-in network: deploy/perche.toml, byte for byte (tests/common/network_config_test.cc
// compares the two, so edit both together). Kept as a raw string literal so that every program
// works with no config file at all.
#include "common/network_config.h"

namespace aplus {

std::string_view DefaultNetworkToml() {
  static constexpr std::string_view kPercheToml = R"toml(# A+ network: the Perche territory (Orne, département 61).
#
# This file is the built-in default of every A+ program (compiled in from
# common/default_network.cc, byte for byte; a test keeps the two identical).
# Copy it to /etc/aplus/network.toml and edit it for a real deployment.
#
# Sections:
#   name              the network's name, logged at start-up
#   [endpoints]       where the broker and the two gateways listen by default
#   [broker]          broker storage and delivery settings
#   [sla]             deadline warnings and transfers
#   [retention]       when closed cases lose their personal data
#   [[territories]]   one per territory; case_prefix (2 to 5 letters A-Z) starts its case ids
#   [[contact_points]] the places where agents receive citizens, each with its agents
#   [[partners]]      the organisations cases are escalated to
#   [[operators]]     who may read the broker's statistics (administrator = true: personal data too)
#
# Ids are short ASCII (letters, digits, '-', '_', '.'): they appear in queue names and on
# command lines. Every id is unique in its section; agent ids are unique in their contact
# point (in this file they are unique network-wide). Who may connect as which of them is not
# said here: the broker's keyring maps each CURVE public key to one of them (README, "Keys").

name = "perche"

[endpoints]
broker = "tcp://127.0.0.1:7400"           # the broker's ROUTER, for every gateway and operator
agent_gateway = "tcp://127.0.0.1:7410"    # agent gateway local endpoint (contact point side)
partner_gateway = "tcp://127.0.0.1:7420"  # partner gateway local endpoint (partner side)
alerts = "tcp://127.0.0.1:7401"           # the broker's PUB socket for SLA alerts

[broker]
data_dir = "./aplus-data/broker"
max_frame_bytes = 1048576      # larger frames are refused with TOO_LARGE
ack_lease_ms = 30000           # a delivery not acknowledged within this is redelivered
max_delivery_attempts = 10     # then the item is parked in the dead-letter queue
max_batch_messages = 1024      # group commit: at most this many messages per fsync

[sla]
# When to warn that a reply window is about to lapse: "default" (when one counted day or 25% of
# the window remains, whichever comes first), "<N> jours-ouvres" (N counted days before the
# deadline) or a duration such as "6 heures".
warning_lead = "default"
# On a transfer, the new partner gets a fresh window (false) or inherits the deadline (true).
transfer_keeps_deadline = false

[retention]
# Once a case is closed or cancelled, its personal data (citizen, subject, body, replies,
# questions and every free text) is erased after this period; the case's skeleton (ids,
# parties, dates, SLA outcome) and its audit log stay for reports. The agent gateways erase
# their cached copies after the same period; a partner gateway erases its copy (and spool
# files) this period after the broker accepted its reply. "<N> months" counts calendar
# months (Europe/Paris); days, hours, minutes and seconds are accepted too.
personal_data_after = "12 months"
# Erased values leave the database files at the next compaction, which runs at most this often.
compaction_interval = "1 hours"

[[territories]]
id = "perche"
name = "Perche"
case_prefix = "PER"
time_zone = "Europe/Paris"

# --- contact points ------------------------------------------------------------------------

[[contact_points]]
id = "mairie-perche-en-noce"
name = "Mairie de Perche-en-Nocé"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-noce-1", name = "Agent 1 Perche-en-Nocé" },
  { id = "agent-noce-2", name = "Agent 2 Perche-en-Nocé" },
  { id = "agent-noce-3", name = "Agent 3 Perche-en-Nocé" },
]

[[contact_points]]
id = "mairie-berdhuis"
name = "Mairie de Berd'huis"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-berdhuis-1", name = "Agent 1 Berd'huis" },
  { id = "agent-berdhuis-2", name = "Agent 2 Berd'huis" },
]

[[contact_points]]
id = "mairie-bretoncelles"
name = "Mairie de Bretoncelles"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-bretoncelles-1", name = "Agent 1 Bretoncelles" },
  { id = "agent-bretoncelles-2", name = "Agent 2 Bretoncelles" },
]

[[contact_points]]
id = "mairie-remalard"
name = "Mairie de Rémalard-en-Perche"
kind = "mairie"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-remalard-1", name = "Agent 1 Rémalard-en-Perche" },
  { id = "agent-remalard-2", name = "Agent 2 Rémalard-en-Perche" },
]

[[contact_points]]
id = "msap-postale-remalard"
name = "MSAP postale de Rémalard-en-Perche"
kind = "msap-postale"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-poste-remalard-1", name = "Agent 1 MSAP postale Rémalard" },
  { id = "agent-poste-remalard-2", name = "Agent 2 MSAP postale Rémalard" },
]

[[contact_points]]
id = "msap-mortagne"
name = "MSAP communale de Mortagne-au-Perche"
kind = "msap-communale"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-mortagne-1", name = "Agent 1 Mortagne-au-Perche" },
  { id = "agent-mortagne-2", name = "Agent 2 Mortagne-au-Perche" },
  { id = "agent-mortagne-3", name = "Agent 3 Mortagne-au-Perche" },
]

[[contact_points]]
id = "msap-val-au-perche"
name = "MSAP intercommunale de Val-au-Perche"
kind = "msap-intercommunale"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-val-1", name = "Agent 1 Val-au-Perche" },
  { id = "agent-val-2", name = "Agent 2 Val-au-Perche" },
  { id = "agent-val-3", name = "Agent 3 Val-au-Perche" },
]

[[contact_points]]
id = "msa-mortagne"
name = "Agence MSA de Mortagne-au-Perche"
kind = "msa-agency"
territory = "perche"
departement = "61"
agents = [
  { id = "agent-msa-1", name = "Agent 1 MSA Mortagne" },
  { id = "agent-msa-2", name = "Agent 2 MSA Mortagne" },
]

# --- partners ------------------------------------------------------------------------------
# A national partner has one queue, "partner/<id>". A per_territory partner has one queue per
# territory, "partner/<id>/<territory>", and its gateways may serve a single territory.
# reply_policy: how long the partner has to answer, "<N> <unit>" with unit jours-ouvres
# (Monday-Friday minus public holidays), jours-ouvrables (Monday-Saturday minus public holidays),
# jours-calendaires, heures, minutes or secondes. Optional: [partners.category_policies] with one
# policy per category, closures = ["YYYY-MM-DD", ...], whit_monday_worked = true.

[[partners]]
id = "france-travail"
name = "France Travail"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "msa"
name = "MSA Mayenne-Orne-Sarthe"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "caf"
name = "CAF de l'Orne"
per_territory = true
reply_policy = "4 jours-ouvres"

[[partners]]
id = "cpam"
name = "CPAM de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "carsat"
name = "CARSAT Normandie"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "dgfip"
name = "DGFiP — Finances publiques de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "france-titres"
name = "France Titres (ANTS)"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "la-poste"
name = "La Poste"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "prefecture-orne"
name = "Préfecture de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "conseil-departemental-61"
name = "Conseil départemental de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "mission-locale"
name = "Mission locale du Perche ornais"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "udaf-61"
name = "UDAF de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "point-justice"
name = "Point-justice (CDAD de l'Orne)"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "cap-emploi"
name = "Cap emploi Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "adil-61"
name = "ADIL de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

[[partners]]
id = "chambre-agriculture-61"
name = "Chambre d'agriculture de l'Orne"
per_territory = false
reply_policy = "4 jours-ouvres"

# --- operators -----------------------------------------------------------------------------

[[operators]]
id = "operator"
name = "Coordination préfecture de l'Orne"

# administrator = true: through the operator console (aplus-console) this person reads cases'
# personal data (each read audited); the others see metadata only. Default false. The same
# rule holds from the command line: the broker admits an administrator key (admin.<id>) only
# for a person marked here.
[[operators]]
id = "administration"
name = "Administration du réseau (préfecture de l'Orne)"
administrator = true
)toml";
  return kPercheToml;
}

}  // namespace aplus

# Debian packages of A+ (`cpack -G DEB` in the build directory; README, "Install from packages").
#
# The split, one package per kind of machine:
#   aplus-common    /etc/aplus/network.toml (a conffile, from deploy/perche.toml), the system
#                   user `aplus` and /var/lib/aplus: what every service needs, owned once (two
#                   packages may not both ship the network file).
#   aplus-broker    /usr/bin/aplus-broker and its unit (one machine per network).
#   aplus-gateways  both gateways and their template units (a contact point's or a partner's
#                   machine; one package: they share everything but their principal).
#   aplus-tools     aplus and aplus-bench: an operator's or agent's workstation needs no
#                   service, no user and no network file, so it does not depend on aplus-common.
#   aplus-console   the operator console and its unit, when the tree has the program.
# Runtime dependencies come from dpkg-shlibdeps (dpkg-dev); the binaries are stripped.
# Maintainer scripts (deploy/debian/) run where PID 1 is not systemd too: they only talk to
# systemd when /run/systemd/system exists, and never enable or start a service (it needs its
# CURVE keys first).

include(GNUInstallDirs)

# `cpack` and `make install` take the programs as built (deploy/build.sh first) instead of
# building every target, tests included, before packaging: the package test runs after the
# build and must not rebuild the whole tree.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(APLUS_DEBIAN_DIR ${CMAKE_SOURCE_DIR}/deploy/debian)
set(APLUS_PACKAGING_DIR ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${APLUS_PACKAGING_DIR})
# Units and changelogs are generated from sources: a change there re-runs this file.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${APLUS_DEBIAN_DIR}/service.postinst.in ${APLUS_DEBIAN_DIR}/service.prerm.in
             ${APLUS_DEBIAN_DIR}/service.postrm.in ${APLUS_DEBIAN_DIR}/changelog.in
             ${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-broker.service
             ${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-agent-gateway@.service
             ${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-partner-gateway@.service
             ${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-console.service)

# The units of deploy/systemd/ name /usr/local/bin (a hand install, deploy/README.md); the
# packaged copies name /usr/bin and the packaged documentation. Everything else (hardening,
# StateDirectory=) is kept as written.
function(aplus_packaged_unit source_path out_var)
  get_filename_component(name ${source_path} NAME)
  file(READ ${source_path} text)
  string(REPLACE "/usr/local/bin/" "/usr/bin/" text "${text}")
  string(REPLACE "file:///usr/local/share/doc/aplus/README.md"
                 "file:///usr/share/doc/aplus-common/README.md" text "${text}")
  file(WRITE ${APLUS_PACKAGING_DIR}/units/${name} "${text}")
  set(${out_var} ${APLUS_PACKAGING_DIR}/units/${name} PARENT_SCOPE)
endfunction()

# Debian policy wants /usr/share/doc/<package>/{copyright,changelog.Debian.gz} in every
# package; the changelog is compressed with `gzip -9n` (no timestamp: reproducible).
function(aplus_package_docs component package)
  set(APLUS_VERSION ${PROJECT_VERSION}-1)  # the package version: upstream and Debian revision
  configure_file(${APLUS_DEBIAN_DIR}/changelog.in ${APLUS_PACKAGING_DIR}/${package}/changelog.Debian @ONLY)
  execute_process(COMMAND gzip -9nf ${APLUS_PACKAGING_DIR}/${package}/changelog.Debian
                  RESULT_VARIABLE gzip_result)
  if(NOT gzip_result EQUAL 0)
    message(FATAL_ERROR "gzip of ${package}'s changelog failed")
  endif()
  install(FILES ${APLUS_DEBIAN_DIR}/copyright ${APLUS_PACKAGING_DIR}/${package}/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component})
  if(EXISTS ${APLUS_DEBIAN_DIR}/${package}.lintian-overrides)
    install(FILES ${APLUS_DEBIAN_DIR}/${package}.lintian-overrides
            DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${package}
            COMPONENT ${component})
  endif()
endfunction()

# Maintainer scripts of a package with services: `units` are the unit files, `globs` the
# patterns of their running instances (template units run as name@instance.service).
function(aplus_service_scripts package units globs out_var)
  set(APLUS_PACKAGE ${package})
  set(APLUS_UNITS "${units}")
  set(APLUS_UNIT_GLOBS "${globs}")
  foreach(script postinst prerm postrm)
    configure_file(${APLUS_DEBIAN_DIR}/service.${script}.in
                   ${APLUS_PACKAGING_DIR}/${package}/${script} @ONLY)
  endforeach()
  set(${out_var} ${APLUS_PACKAGING_DIR}/${package}/postinst ${APLUS_PACKAGING_DIR}/${package}/prerm
      ${APLUS_PACKAGING_DIR}/${package}/postrm PARENT_SCOPE)
endfunction()

set(APLUS_UNIT_DIR lib/systemd/system)  # under /usr: Debian 12's merged /usr

# --- aplus-common --------------------------------------------------------------------------
install(FILES ${CMAKE_SOURCE_DIR}/deploy/perche.toml DESTINATION /etc/aplus RENAME network.toml
        COMPONENT common)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/deploy/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/aplus-common COMPONENT common)
install(FILES ${CMAKE_SOURCE_DIR}/docs/PROGRAMS.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/aplus-common COMPONENT common)
aplus_package_docs(common aplus-common)
file(WRITE ${APLUS_PACKAGING_DIR}/aplus-common/conffiles "/etc/aplus/network.toml\n")
configure_file(${APLUS_DEBIAN_DIR}/common.postinst ${APLUS_PACKAGING_DIR}/aplus-common/postinst COPYONLY)
configure_file(${APLUS_DEBIAN_DIR}/common.postrm ${APLUS_PACKAGING_DIR}/aplus-common/postrm COPYONLY)

# --- aplus-broker --------------------------------------------------------------------------
install(TARGETS aplus-broker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT broker)
aplus_packaged_unit(${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-broker.service broker_unit)
install(FILES ${broker_unit} DESTINATION ${APLUS_UNIT_DIR} COMPONENT broker)
aplus_package_docs(broker aplus-broker)
aplus_service_scripts(aplus-broker "aplus-broker.service" "aplus-broker.service" broker_scripts)

# --- aplus-gateways ------------------------------------------------------------------------
install(TARGETS aplus-agent-gateway aplus-partner-gateway RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT gateways)
aplus_packaged_unit("${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-agent-gateway@.service" agent_unit)
aplus_packaged_unit("${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-partner-gateway@.service" partner_unit)
install(FILES ${agent_unit} ${partner_unit} DESTINATION ${APLUS_UNIT_DIR} COMPONENT gateways)
aplus_package_docs(gateways aplus-gateways)
aplus_service_scripts(aplus-gateways "aplus-agent-gateway@.service aplus-partner-gateway@.service"
                      "'aplus-agent-gateway@*.service' 'aplus-partner-gateway@*.service'"
                      gateway_scripts)

# --- aplus-tools ---------------------------------------------------------------------------
install(TARGETS aplus aplus-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
aplus_package_docs(tools aplus-tools)

# --- aplus-console (when the tree has it) --------------------------------------------------
set(APLUS_PACKAGE_COMPONENTS common broker gateways tools)
if(TARGET aplus-console)
  install(TARGETS aplus-console RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT console)
  if(EXISTS ${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-console.service)
    aplus_packaged_unit(${CMAKE_SOURCE_DIR}/deploy/systemd/aplus-console.service console_unit)
    install(FILES ${console_unit} DESTINATION ${APLUS_UNIT_DIR} COMPONENT console)
    aplus_service_scripts(aplus-console "aplus-console.service" "aplus-console.service"
                          console_scripts)
    set(CPACK_DEBIAN_CONSOLE_PACKAGE_CONTROL_EXTRA ${console_scripts})
  endif()
  aplus_package_docs(console aplus-console)
  list(APPEND APLUS_PACKAGE_COMPONENTS console)
endif()

# --- CPack ---------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME aplus)
set(CPACK_PACKAGE_VENDOR "A+")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "A+ maintainers <aplus@services-publics-plus.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL ${APLUS_PACKAGE_COMPONENTS})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://services-publics-plus.example/aplus")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(APLUS_EXACT "(= ${PROJECT_VERSION}-1)")
set(CPACK_DEBIAN_COMMON_PACKAGE_NAME aplus-common)
set(CPACK_DEBIAN_COMMON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COMMON_PACKAGE_CONTROL_EXTRA ${APLUS_PACKAGING_DIR}/aplus-common/conffiles
    ${APLUS_PACKAGING_DIR}/aplus-common/postinst ${APLUS_PACKAGING_DIR}/aplus-common/postrm)
set(CPACK_COMPONENT_COMMON_DESCRIPTION
    "A+ escalation network: network file, system user and data directory\n\
The network file /etc/aplus/network.toml (the Perche example: edit it), the\n\
system user aplus that every A+ service runs as, and /var/lib/aplus.")

set(CPACK_DEBIAN_BROKER_PACKAGE_NAME aplus-broker)
set(CPACK_DEBIAN_BROKER_PACKAGE_DEPENDS "aplus-common ${APLUS_EXACT}")
set(CPACK_DEBIAN_BROKER_PACKAGE_CONTROL_EXTRA ${broker_scripts})
set(CPACK_COMPONENT_BROKER_DESCRIPTION
    "A+ escalation network: the broker\n\
Stores every escalation durably before acknowledging it, routes it to the\n\
partner's queue and the replies back to the contact point. One per network;\n\
systemd unit aplus-broker.service.")

set(CPACK_DEBIAN_GATEWAYS_PACKAGE_NAME aplus-gateways)
set(CPACK_DEBIAN_GATEWAYS_PACKAGE_DEPENDS "aplus-common ${APLUS_EXACT}")
set(CPACK_DEBIAN_GATEWAYS_PACKAGE_CONTROL_EXTRA ${gateway_scripts})
set(CPACK_COMPONENT_GATEWAYS_DESCRIPTION
    "A+ escalation network: agent and partner gateways\n\
The agent gateway of a contact point (durable outbox and mailbox) and the\n\
partner gateway of a partner (durable inbox, spool directory), with their\n\
HTTP APIs; systemd template units, one instance per contact point or partner.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME aplus-tools)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "A+ escalation network: command line and load generator\n\
aplus, the command line of agents, partners and operators (also keys,\n\
keyrings and API tokens), and aplus-bench, the load generator.")

set(CPACK_DEBIAN_CONSOLE_PACKAGE_NAME aplus-console)
set(CPACK_DEBIAN_CONSOLE_PACKAGE_DEPENDS "aplus-common ${APLUS_EXACT}")
set(CPACK_COMPONENT_CONSOLE_DESCRIPTION
    "A+ escalation network: operator web console\n\
The web console of the network's operators and administrators (queues, SLA\n\
board, alerts, case lookup, reports), served on loopback by default.")

include(CPack)

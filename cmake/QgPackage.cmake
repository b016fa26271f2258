# Installs what is not a build target, and describes the Debian package CPack builds.
#
# `cmake --install` puts (paths under CMAKE_INSTALL_PREFIX unless absolute):
#   bin/                          qg-broker qg-scheduler qg-worker qg-gateway qgjob (QgWarnings.cmake)
#   <sysconfdir>/qgjob/           qg-broker.env qg-scheduler.env qg-worker.env qg-gateway.env (example settings;
#                                 /etc/qgjob for the prefix /usr, conffiles in the .deb)
#   lib/systemd/system/           qg-broker.service qg-scheduler.service qg-gateway.service qg-worker@.service
#   share/qgjob/dashboard/        the gateway's dashboard (gateway/CMakeLists.txt)
#   share/qgjob/examples/         the stand-in test runner and installer, demo specs, a
#                                 per-device env file and the USB drop-in for workers
#   share/doc/qgjob/              README.md, operations.md
# The unit files in compose/systemd name /usr/bin, /etc/qgjob and /usr/share; the installed
# copies name this install's own directories instead, so a /usr/local install works as well.
#
# `cpack` (scripts/package) builds qgjob_<version>_<arch>.deb from the same rules, with the
# prefix the build was configured with (scripts/package configures /usr). Its Depends are
# computed from the binaries by dpkg-shlibdeps (Debian package dpkg-dev).

set(QG_CONF_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/qgjob)
set(QG_SYSTEMD_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
set(QG_EXAMPLES_DIR ${CMAKE_INSTALL_DATADIR}/qgjob/examples)
set(qg_units ${PROJECT_SOURCE_DIR}/compose/systemd)

set(qg_unit_out ${CMAKE_BINARY_DIR}/systemd)
foreach(unit qg-broker.service qg-scheduler.service qg-gateway.service qg-worker@.service)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${qg_units}/${unit})
  file(READ ${qg_units}/${unit} text)
  string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
  string(REPLACE "/etc/qgjob/" "${QG_CONF_DIR}/" text "${text}")
  string(REPLACE "/usr/share/doc/qgjob/" "${CMAKE_INSTALL_FULL_DOCDIR}/" text "${text}")
  string(REPLACE "/usr/share/qgjob/" "${CMAKE_INSTALL_FULL_DATADIR}/qgjob/" text "${text}")
  file(WRITE ${qg_unit_out}/${unit}.new "${text}")
  configure_file(${qg_unit_out}/${unit}.new ${qg_unit_out}/${unit} COPYONLY)  # rewritten when changed
  install(FILES ${qg_unit_out}/${unit} DESTINATION ${QG_SYSTEMD_DIR})
endforeach()

set(qg_conffiles qg-broker.env qg-scheduler.env qg-worker.env qg-gateway.env)
foreach(env IN LISTS qg_conffiles)
  install(FILES ${qg_units}/${env} DESTINATION ${QG_CONF_DIR})
endforeach()

install(PROGRAMS ${PROJECT_SOURCE_DIR}/examples/fake-appwright ${PROJECT_SOURCE_DIR}/examples/fake-install
        DESTINATION ${QG_EXAMPLES_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/tests DESTINATION ${QG_EXAMPLES_DIR})
install(FILES ${qg_units}/qg-worker-usb.conf ${qg_units}/qg-worker@emulator-5554.env
        DESTINATION ${QG_EXAMPLES_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- The Debian package
set(QG_PACKAGE_MAINTAINER "qgjob maintainers <maintainers@users.noreply.b-seed-404ddc59.example>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME qgjob)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "qgjob")
set(CPACK_PACKAGE_CONTACT "${QG_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "test job orchestrator for device farms (AppWright/Appium)")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # qgjob_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${QG_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
find_program(QG_DPKG dpkg)
if(QG_DPKG)
  execute_process(COMMAND ${QG_DPKG} --print-architecture OUTPUT_VARIABLE arch OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${arch})
endif()
# Depends: adduser (the maintainer scripts) and, appended by dpkg-shlibdeps, the shared
# libraries the binaries link (libzmq, hiredis, Boost.Program_options, spdlog, fmt, libstdc++).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-tools")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server, adb")
# The summary above is the first line of Description; CPack indents these lines under it and
# turns the empty line into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "qgjob queues test jobs, groups those that share an organisation, app build and target,
and hands each group whole to one device worker, so a build is installed once per device.
CI pipelines submit with qgjob and block on `qgjob wait`.

This package holds qg-broker, qg-scheduler, qg-worker, qg-gateway (REST, live events,
metrics and the dashboard over HTTP) and qgjob, systemd units (one
qg-worker@<device> instance per device) with their settings in /etc/qgjob, and a
qgjob system user the services run as. The services are not enabled on install.")

set(qg_debian_out ${CMAKE_BINARY_DIR}/debian)
set(qg_conffile_lines "")
foreach(env IN LISTS qg_conffiles)
  string(APPEND qg_conffile_lines "${QG_CONF_DIR}/${env}\n")
endforeach()
file(WRITE ${qg_debian_out}/conffiles "${qg_conffile_lines}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${qg_debian_out}/conffiles
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)  # scripts 0755, conffiles 0644

include(CPack)

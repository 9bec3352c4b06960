# CPACK_PRE_BUILD_SCRIPTS hook: runs on the staged install tree of each
# generator before it is packed.  Debian 12 keeps system units in
# /lib/systemd/system; RPM distributions keep them in /usr/lib/systemd/system
# and have no use for the Debian changelog and lintian overrides.
if(NOT CPACK_GENERATOR STREQUAL "RPM")
  return()
endif()
set(stage "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
if(NOT IS_DIRECTORY "${stage}")
  message(FATAL_ERROR "cpack-stage.cmake: no staging directory '${stage}'")
endif()
if(IS_DIRECTORY "${stage}/lib/systemd/system")
  file(MAKE_DIRECTORY "${stage}/usr/lib/systemd")
  file(RENAME "${stage}/lib/systemd/system" "${stage}/usr/lib/systemd/system")
  file(REMOVE_RECURSE "${stage}/lib")
endif()
file(REMOVE "${stage}/usr/share/doc/wac/changelog.Debian.gz")
file(REMOVE_RECURSE "${stage}/usr/share/lintian")
# CPackRPM marks every file installed to an absolute path as %config and
# lists it by that path.  Only /etc holds configuration; the unit moved above
# and /var/lib/wac are ordinary entries.  (This script runs in the generator's
# scope, so the change reaches CPackRPM.)
list(FILTER CPACK_ABSOLUTE_DESTINATION_FILES INCLUDE REGEX "^/etc/")

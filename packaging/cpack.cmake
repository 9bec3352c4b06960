# CPack: `cpack` in the build directory writes wac_<version>-1_<arch>.deb and
# wac-<version>-1.<arch>.rpm from the install rules (wacd, wacctl, and what
# packaging/CMakeLists.txt adds).  Included at the end of the top-level
# CMakeLists.txt, after every install rule exists.
set(WAC_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})

set(CPACK_GENERATOR "DEB;RPM")
set(CPACK_PACKAGE_NAME wac)
set(CPACK_PACKAGE_VENDOR "wac")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "wac maintainers <maintainers@users.noreply.r-seed-5f16817a.example>"
    CACHE STRING "Maintainer of the deb/rpm packages")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "network policy node agent for Kubernetes pods, nftables dataplane")
set(CPACK_PACKAGE_DESCRIPTION
"wacd enforces Calico-model network policy (Calico v3 and Kubernetes
NetworkPolicy) for the pods of a node in the nftables table inet wac.
A cluster controller or an operator with wacctl drives it over gRPC on a
unix socket.  Stopping wacd leaves the rules in place; removing the package
deletes them.

This package contains wacd, wacctl, the wacd systemd unit and the default
configuration /etc/wac/wacd.yaml.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_STRIP_FILES ON)
# Per-generator adjustments of the staged tree (the RPM's unit directory).
set(CPACK_PRE_BUILD_SCRIPTS ${WAC_PACKAGING_DIR}/cpack-stage.cmake)
set(CPACK_PACKAGE_FILE_NAME wac-${PROJECT_VERSION})  # only for generators without a *-DEFAULT name

# Debian: library dependencies come from dpkg-shlibdeps; nftables and
# iproute2 provide nft and ip, which wac-cleanup removes wac's kernel state
# with when the package is removed; procps provides the /bin/kill of the
# unit's ExecReload.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "nftables, iproute2, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${WAC_PACKAGING_DIR}/debian/conffiles
    ${WAC_PACKAGING_DIR}/debian/postinst
    ${WAC_PACKAGING_DIR}/debian/prerm
    ${WAC_PACKAGING_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# RPM: rpmbuild finds the library dependencies itself (AutoReq).
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "LicenseRef-wac-unreleased")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_REQUIRES "nftables, iproute, procps-ng")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
# No /usr/lib/.build-id links: they belong in debuginfo packages, and this one
# has none.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${WAC_PACKAGING_DIR}/rpm/post.sh)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${WAC_PACKAGING_DIR}/rpm/preun.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${WAC_PACKAGING_DIR}/rpm/postun.sh)
set(CPACK_RPM_USER_FILELIST "%config(noreplace) /etc/wac/wacd.yaml")
# Directories other packages own (filesystem, systemd, man-db) must not be
# claimed by this one.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/sbin /usr/libexec /usr/lib/systemd /usr/lib/systemd/system /usr/share/man /usr/share/man/man1
    /usr/share/man/man8 /var /var/lib)

include(CPack)

# The packaging tests build the packages from this tree, so they belong here;
# a sanitizer build's binaries are not what ships.
if(WAC_TESTS AND NOT WAC_SANITIZE)
  add_subdirectory(${CMAKE_SOURCE_DIR}/test/packaging ${CMAKE_BINARY_DIR}/test/packaging)
endif()

# package.cmake — install rules and the Debian package (CPack's DEB generator).
#
# Why CPack and not a debian/ folder built by dpkg-buildpackage: the package is made
# from the same install rules as `cmake --install`, out of the build tree the tests ran
# on, with no second build system to keep in step (docs/packaging.md says more).
# scripts/package.sh configures a build with Debian's hardening flags and runs cpack;
# it writes sluice_<version>-<revision>_<arch>.deb.
#
# Layout: /usr/bin/sluice-mover and sluice-review; manual pages (gzipped) under
# /usr/share/man; /lib/systemd/system/sluice-mover.service; /etc/sluice/sluice.json
# (a conffile: the example, valid for check-config) and the examples of config/examples
# under /usr/share/doc/sluice/examples; copyright and changelog.Debian.gz.
include(GNUInstallDirs)

set(SLUICE_DEB_REVISION 1 CACHE STRING "Debian revision of the package (the -N after the version)")

# Manual pages, compressed as Debian wants them (gzip -9n: no name or time stamp).
set(SLUICE_MAN_PAGES docs/man/sluice-mover.8 docs/man/sluice.json.5 docs/man/sluice-review.1)
set(SLUICE_MAN_GZ)
foreach(page ${SLUICE_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
  set(gz ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${gz}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                     COMMAND sh -c "gzip -9n -c '${CMAKE_SOURCE_DIR}/${page}' > '${gz}'"
                     DEPENDS ${CMAKE_SOURCE_DIR}/${page} VERBATIM)
  list(APPEND SLUICE_MAN_GZ ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
set(SLUICE_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_command(OUTPUT ${SLUICE_CHANGELOG_GZ}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
                   COMMAND sh -c "gzip -9n -c '${CMAKE_SOURCE_DIR}/packaging/debian/changelog' > '${SLUICE_CHANGELOG_GZ}'"
                   DEPENDS ${CMAKE_SOURCE_DIR}/packaging/debian/changelog VERBATIM)
add_custom_target(sluice_package_files ALL DEPENDS ${SLUICE_MAN_GZ} ${SLUICE_CHANGELOG_GZ})

install(TARGETS sluice-mover sluice-review RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# What dh_strip does beyond CPack's strip (CPACK_STRIP_FILES): drop the .comment and
# .note sections, which only describe the build.
install(CODE "foreach(p sluice-mover sluice-review)
  execute_process(COMMAND strip --remove-section=.comment --remove-section=.note
                          \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\${p}\"
                  COMMAND_ERROR_IS_FATAL ANY)
endforeach()")
install(FILES packaging/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME sluice)
install(FILES packaging/systemd/sluice-mover.service DESTINATION /lib/systemd/system)
install(FILES packaging/sluice.json DESTINATION /etc/sluice)
install(FILES config/examples/local.json config/examples/production.json packaging/sluice.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES packaging/debian/copyright ${SLUICE_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # sluice_<version>-<revision>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SLUICE_DEB_REVISION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "sluice maintainers <maintainers@sluice.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "one-way gate from sandboxed code interpreters to trusted S3")
# The extended description (CPack writes the summary as its first line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Interpreters (AI agents' code runners, notebooks, batch jobs) drop their
outputs into a write-only S3 staging area through short-lived per-task
grants. The sluice-mover daemon quarantines every object, checks its
content, has it reviewed by a person or a hook, copies only approved bytes
into the trusted bucket and records every step in a hash-chained audit log.

This package holds the daemon with its systemd unit, the sluice-review
command-line tool for reviewers and their manual pages.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)

# packaging.cmake — the manual pages and the Debian package:
#  man_pages: every page under docs/man renders with `man -l` without a warning;
#  package_install (normal build only; label "package"): scripts/package.sh builds the
#    .deb, lintian has nothing to say, dpkg -i installs it, the installed
#    sluice-mover --version, check-config on /etc/sluice/sluice.json, the manual pages
#    and the installed unit are checked, and dpkg --purge leaves nothing behind. It
#    needs root and takes a lock, so runs on one machine take turns.
add_test(NAME man_pages COMMAND ${CMAKE_SOURCE_DIR}/tests/man_pages_test.sh ${CMAKE_SOURCE_DIR}/docs/man)
set_tests_properties(man_pages PROPERTIES LABELS unit)

if(NOT SLUICE_SANITIZE)
  add_test(NAME package_install
           COMMAND ${CMAKE_SOURCE_DIR}/tests/package_install_test.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/package)
  set_tests_properties(package_install PROPERTIES LABELS package TIMEOUT 1200)
endif()

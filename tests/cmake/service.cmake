# service.cmake — running sluice-mover as a system service: the readiness protocol
# (mover/service/notify, tests/test_notify.c, label "unit": datagrams on the test's own
# sockets, path and abstract).
sluice_unit_test(test_notify test_notify.c)

# Runs a program under the unit's MemoryDenyWriteExecute=yes (a seccomp filter as
# systemd's), for the tests that the rules engine works there.
add_executable(deny-write-exec deny_write_exec.c)

# The unit file: systemd-analyze verify and security (no running systemd needed), and
# the default rules finding the same under its memory protection.
add_test(NAME systemd_unit
         COMMAND ${CMAKE_SOURCE_DIR}/tests/systemd_unit_test.sh
                 ${CMAKE_SOURCE_DIR}/packaging/systemd/sluice-mover.service $<TARGET_FILE:sluice-mover>
                 $<TARGET_FILE:deny-write-exec> ${CMAKE_SOURCE_DIR}/config/rules/default.json)
set_tests_properties(systemd_unit PROPERTIES LABELS unit)

# The readiness protocol of the real daemon, on the test's own NOTIFY_SOCKET.
sluice_integration_test(service ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_service.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:deny-write-exec>)
set_tests_properties(service PROPERTIES TIMEOUT 300)

# checks.cmake — the content checks room (mover/checks/): the streaming checker
# (test_checks), key and metadata rules (test_checks_key), the embedded-content scan
# (test_embedded), the rules engine and default rules (test_rules), the TOML reader and
# gitleaks import (test_rules_import), YARA rules (test_yara), the clamd client against
# the clamd of scripts/clamd.sh (test_clamd: needs SLUICE_CLAMD_SOCKET), the rules
# commands, and the hostile corpus, malware and YARA through the real daemon
# (integration tests "content", "malware", "yara").
sluice_unit_test(test_checks_key test_checks_key.c)
foreach(t test_checks test_embedded test_rules test_rules_import test_clamd test_archive test_yara)
  sluice_unit_test(${t} ${t}.c checks_driver.c)
  target_compile_definitions(${t} PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endforeach()

# `sluice-mover rules import-gitleaks` and `rules test` on files the project writes.
add_test(NAME rules_commands
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/rules_commands_test.sh $<TARGET_FILE:sluice-mover>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(rules_commands PROPERTIES LABELS unit)

# The hostile corpus through the real daemon (tests/integration/content_corpus.py).
sluice_integration_test(content ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_content.py
                        $<TARGET_FILE:sluice-mover>)
set_tests_properties(content PROPERTIES TIMEOUT 600)

# ClamAV through the real daemon and the clamd of scripts/clamd.sh
# (tests/integration/test_malware.py; needs SLUICE_CLAMD_SOCKET too).
sluice_integration_test(malware ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_malware.py
                        $<TARGET_FILE:sluice-mover>)
set_tests_properties(malware PROPERTIES TIMEOUT 300)

# YARA rules through the real daemon, with a rules file the test writes
# (tests/integration/test_yara.py).
sluice_integration_test(yara ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_yara.py
                        $<TARGET_FILE:sluice-mover>)
set_tests_properties(yara PROPERTIES TIMEOUT 300)

# Re-checks of artifacts in review when the rules change (SIGHUP) and by an operator
# (`sluice-review recheck`), through the real daemon (tests/integration/test_recheck.py).
sluice_integration_test(recheck ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_recheck.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
set_tests_properties(recheck PROPERTIES TIMEOUT 300)

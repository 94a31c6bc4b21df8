# checks.cmake — the content checks room (mover/checks/): key and metadata rules
# (test_checks_key). The streaming checker's own test is test_checks.
sluice_unit_test(test_checks_key test_checks_key.c)

# The hostile corpus through the real daemon (tests/integration/content_corpus.py).
sluice_integration_test(content ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_content.py
                        $<TARGET_FILE:sluice-mover>)
set_tests_properties(content PROPERTIES TIMEOUT 600)

# config_doc.cmake — the configuration reference generated from the schema tables of
# config/config.c (config/config_doc.c): the unit tests of the generator
# (tests/test_config_doc.c); config_doc_current, which fails while
# docs/configuration.md or the manual page sluice.json(5) differs from what the rows
# generate (run `build/tests/gen-config-doc --write docs/configuration.md
# docs/man/sluice.json.5`); and config_keys_read, which fails for a key that no code
# outside config/ reads (an accepted key must do what it says).

sluice_unit_test(test_config_doc test_config_doc.c)

add_executable(gen-config-doc gen_config_doc.c gen_common.c)
target_link_libraries(gen-config-doc PRIVATE sluice_core)
add_test(NAME config_doc_current
         COMMAND gen-config-doc --check ${CMAKE_SOURCE_DIR}/docs/configuration.md
                 ${CMAKE_SOURCE_DIR}/docs/man/sluice.json.5)
set_tests_properties(config_doc_current PROPERTIES LABELS unit)


add_test(NAME config_keys_read
         COMMAND ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/config_keys_read.py $<TARGET_FILE:gen-config-doc>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(config_keys_read PROPERTIES LABELS unit)

# state.cmake — the artifact state module (mover/state/): the cmocka tests of the
# lifecycle table, ids and key layouts (test_artifact) and of the manifest
# (test_manifest); and the generator of docs/states.md with the ctest that keeps that
# document equal to the transitions table (states_doc_current: run
# `build/tests/gen-states-doc > docs/states.md` when it fails).

sluice_unit_test(test_artifact test_artifact.c)
sluice_unit_test(test_manifest test_manifest.c)

add_executable(gen-states-doc gen_states_doc.c gen_common.c)
target_link_libraries(gen-states-doc PRIVATE sluice_core)
target_include_directories(gen-states-doc PRIVATE ${CMAKE_SOURCE_DIR}/tests)
add_test(NAME states_doc_current COMMAND gen-states-doc --check ${CMAKE_SOURCE_DIR}/docs/states.md)
set_tests_properties(states_doc_current PROPERTIES LABELS unit)

# The artifact protocol (mover/state/protocol.h): its tables' consistency and the
# executor's classification (test_protocol); docs/protocol.md and the Promela table of the
# model, generated from the tables, kept current by protocol_current (run
# `build/tests/gen-protocol doc > docs/protocol.md` and
# `build/tests/gen-protocol model > tests/model/protocol_table.pml` when it fails).
sluice_unit_test(test_protocol test_protocol.c)
sluice_unit_test(test_ledger test_ledger.c)
add_executable(gen-protocol gen_protocol.c gen_common.c)
target_link_libraries(gen-protocol PRIVATE sluice_core)
target_include_directories(gen-protocol PRIVATE ${CMAKE_SOURCE_DIR}/tests)
add_test(NAME protocol_current COMMAND gen-protocol --check ${CMAKE_SOURCE_DIR}/docs/protocol.md
                                       ${CMAKE_SOURCE_DIR}/tests/model/protocol_table.pml)
set_tests_properties(protocol_current PROPERTIES LABELS unit)

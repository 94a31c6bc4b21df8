# state.cmake — the artifact state module (mover/state/): the cmocka tests of the
# lifecycle table, ids and key layouts (test_artifact) and of the manifest
# (test_manifest); and the generator of docs/states.md with the ctest that keeps that
# document equal to the transitions table (states_doc_current: run
# `build/tests/gen-states-doc > docs/states.md` when it fails).

sluice_unit_test(test_artifact test_artifact.c)
sluice_unit_test(test_manifest test_manifest.c)

add_executable(gen-states-doc gen_states_doc.c)
target_link_libraries(gen-states-doc PRIVATE sluice_core)
add_test(NAME states_doc_current COMMAND gen-states-doc --check ${CMAKE_SOURCE_DIR}/docs/states.md)
set_tests_properties(states_doc_current PROPERTIES LABELS unit)

# model.cmake — the protocol model (tests/model/protocol.pml, label "model"): spin checks
# each configuration exhaustively within its bounds (tests/model/check.sh); the open
# findings are configurations in which the model still finds the violation it reported
# (they fail once it is fixed); model_coverage checks that the configurations together
# run every row of the protocol table and take every entry but the ones
# tests/model/unreachable.txt explains. The model includes the Promela rendering of the
# table (protocol_current keeps it current). Only in the normal build: spin checks the
# model, not the C code, so a sanitizer build would check the same thing twice.
# README: tests/model/README.md (what is modelled, bounds, figures, the findings).
if(NOT SLUICE_SANITIZE)
  set(SLUICE_MODEL_DIR ${CMAKE_BINARY_DIR}/model)
  set(SLUICE_MODEL_SRC ${CMAKE_SOURCE_DIR}/tests/model)

  # sluice_model(NAME [--open PATTERN] [-DOPTION=VALUE ...])
  function(sluice_model name)
    add_test(NAME model_${name} COMMAND sh ${SLUICE_MODEL_SRC}/check.sh ${SLUICE_MODEL_DIR} ${name} ${ARGN})
    set_tests_properties(model_${name} PROPERTIES LABELS model TIMEOUT 1200 FIXTURES_SETUP model_runs)
  endfunction()

  # The hot path on versioned staging: check and promote in place, a server that honours
  # If-None-Match on CopyObject; two versions, faults, a crash, an exhausted budget.
  sluice_model(inplace -DCHECK_AUDIT_SWEEP=0)
  # radosgw 16 (no If-None-Match on CopyObject: promote_head runs), one version per key.
  sluice_model(radosgw_one_version -DCOPY_INM=0 -DUPLOADS=1 -DMAX_CRASH=2 -DCHECK_AUDIT_SWEEP=0)
  # Every upload copied into quarantine first, on versioned and on unversioned staging.
  sluice_model(quarantine_first -DIN_PLACE=0 -DCHECK_AUDIT=0 -DCHECK_AUDIT_SWEEP=0)
  sluice_model(unversioned -DVERSIONED=0 -DIN_PLACE=0 -DCHECK_AUDIT=0 -DCHECK_AUDIT_SWEEP=0)
  # Review mode human: a reviewer approves or rejects, an operator retries a failed one.
  sluice_model(human_review -DHUMAN=1 -DCHECK_AUDIT=0 -DCHECK_AUDIT_SWEEP=0)
  # Two movers on one route, no leases.
  sluice_model(two_movers -DMOVERS=2 -DMAX_FAULT=1 -DREJECTS=0 -DAGED=0 -DCHECK_AUDIT=0 -DCHECK_AUDIT_SWEEP=0)

  # Open findings (README: "Findings"): each passes while the model still finds it.
  sluice_model(open_expire_purge_unrecorded --open "audit_complete_sweep" -DCHECK_AUDIT_SWEEP=1)
  sluice_model(open_overwrite_without_copy_condition --open "trusted_never_overwritten|no_upload_lost" -DCOPY_INM=0 -DCHECK_AUDIT_SWEEP=0)
  sluice_model(open_park_unrecorded_after_sweep --open "audit_complete\\)" -DIN_PLACE=0 -DCHECK_AUDIT=1 -DCHECK_AUDIT_SWEEP=0)

  add_test(NAME model_coverage COMMAND python3 ${SLUICE_MODEL_SRC}/coverage.py ${SLUICE_MODEL_DIR}
                                       ${SLUICE_MODEL_SRC}/protocol_table.pml ${SLUICE_MODEL_SRC}/unreachable.txt)
  set_tests_properties(model_coverage PROPERTIES LABELS model FIXTURES_REQUIRED model_runs)
endif()

# model.cmake — the protocol model (tests/model/protocol.pml, label "model"): spin checks
# each configuration exhaustively within its bounds (tests/model/check.sh); an open
# finding is a configuration in which the model still finds the violation it reported
# (it fails once that is fixed); model_coverage checks that the configurations together
# run every row of the protocol table and take every entry but the ones
# tests/model/unreachable.txt explains. The model includes the Promela rendering of the
# table (protocol_current keeps it current). Only in the normal build: spin checks the
# model, not the C code, so a sanitizer build would check the same thing twice.
# README: tests/model/README.md (what is modelled, bounds, figures, the findings).
if(NOT SLUICE_SANITIZE)
  set(SLUICE_MODEL_DIR ${CMAKE_BINARY_DIR}/model)
  set(SLUICE_MODEL_SRC ${CMAKE_SOURCE_DIR}/tests/model)

  # sluice_model(NAME [--ltl | --open PATTERN] [-DOPTION=VALUE ...])
  function(sluice_model name)
    add_test(NAME model_${name} COMMAND sh ${SLUICE_MODEL_SRC}/check.sh ${SLUICE_MODEL_DIR} ${name} ${ARGN})
    set_tests_properties(model_${name} PROPERTIES LABELS model TIMEOUT 600 FIXTURES_SETUP model_runs)
  endfunction()

  # Checked in place on versioned staging (a server that honours If-None-Match on
  # CopyObject): one upload under two faults and a crash, with the progress property;
  # two racing uploads under one fault and a crash.
  sluice_model(inplace_faults --ltl -DUPLOADS=1 -DMAX_FAULT=2 -DMAX_CRASH=1)
  sluice_model(inplace_race -DUPLOADS=2 -DMAX_FAULT=1 -DMAX_CRASH=1 -DREJECTS=0 -DAGED=0)
  # radosgw 16: no If-None-Match on CopyObject (promote_head looks first; one promotion per
  # trusted key at a time), two uploads racing for one trusted key.
  sluice_model(radosgw_race -DCOPY_INM=0 -DUPLOADS=2 -DMAX_FAULT=1 -DMAX_CRASH=1 -DREJECTS=0 -DAGED=0)
  # Every upload copied into quarantine first: versioned staging, and unversioned staging
  # with conditional deletes (a replacement by the writer at any moment).
  sluice_model(quarantine_first --ltl -DIN_PLACE=0 -DUPLOADS=1 -DMAX_FAULT=2 -DMAX_CRASH=1)
  sluice_model(unversioned -DVERSIONED=0 -DIN_PLACE=0 -DUPLOADS=2 -DMAX_FAULT=1 -DMAX_CRASH=1 -DREJECTS=0 -DAGED=0)
  sluice_model(unversioned_rejects -DVERSIONED=0 -DIN_PLACE=0 -DUPLOADS=2 -DMAX_FAULT=0 -DMAX_CRASH=0 -DAGED=0)
  # Review mode human on radosgw: a reviewer approves or rejects, an operator retries a
  # failed artifact, review_ttl and retention run out (expire, purge).
  sluice_model(human_review -DHUMAN=1 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=2 -DMAX_CRASH=1)
  sluice_model(human_quarantine_first -DHUMAN=1 -DCOPY_INM=0 -DIN_PLACE=0 -DUPLOADS=1 -DMAX_FAULT=2 -DMAX_CRASH=1)
  # Two movers on one route, no leases: nothing lost, nothing promoted twice or unchecked,
  # no final outcome left; not every outcome in an audit log (the open finding below).
  sluice_model(two_movers -DMOVERS=2 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=1 -DMAX_CRASH=0 -DREJECTS=0 -DAGED=0)
  sluice_model(two_movers_review -DMOVERS=2 -DHUMAN=1 -DUPLOADS=1 -DMAX_FAULT=0 -DMAX_CRASH=0 -DREJECTS=0)

  # Two movers with leases (cluster): the shard's lease may pass to the other mover at any
  # moment before calm; every property of one mover holds, the audit and placement ones
  # included. Under a fault; under a crash; in review mode human.
  sluice_model(two_movers_leases -DMOVERS=2 -DLEASES=1 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=1 -DMAX_CRASH=0
               -DREJECTS=0 -DAGED=0)
  sluice_model(two_movers_leases_crash -DMOVERS=2 -DLEASES=1 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=0 -DMAX_CRASH=1
               -DREJECTS=0 -DAGED=0)
  sluice_model(two_movers_leases_review -DMOVERS=2 -DLEASES=1 -DHUMAN=1 -DUPLOADS=1 -DMAX_FAULT=0 -DMAX_CRASH=0
               -DREJECTS=0)
  # ... and when a request lands after the lease passed (LATE, the open finding below):
  # nothing lost, overwritten, promoted unchecked or given two final outcomes; only the
  # placement and audit properties (off here) can break.
  sluice_model(two_movers_late_requests -DMOVERS=2 -DLEASES=1 -DLATE=1 -DSTRICT_PLACE=0 -DSTRICT_AUDIT=0
               -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=1 -DMAX_CRASH=0 -DREJECTS=0 -DAGED=0)

  # What the model finds when a safeguard is taken away (README: "Findings"); each passes
  # while the search still finds the violation. Two movers without leases: a promotion no
  # audit log records. Leases without the epoch check (an artifact going on after its
  # mover lost the lease and took it back): a promotion contradicted by a manifest.
  sluice_model(without_leases_promoted_unrecorded --open "audit_complete" -DMOVERS=2 -DSTRICT_AUDIT=1
               -DUPLOADS=1 -DMAX_FAULT=1 -DREJECTS=0 -DAGED=0)
  sluice_model(without_epoch_contradicted --open "in_one_place|audit_complete|settled_and_clean" -DMOVERS=2
               -DLEASES=1 -DLEASE_GEN=0 -DMAX_TAKEOVER=2 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=1 -DMAX_CRASH=0
               -DREJECTS=0 -DAGED=0)
  # Open finding: a request that lands after the lease passed (delayed longer than the
  # lease's margin at the server) can leave a promoted artifact with a failed manifest.
  sluice_model(open_late_request --open "in_one_place|audit_complete|settled_and_clean" -DMOVERS=2 -DLEASES=1
               -DLATE=1 -DCOPY_INM=0 -DUPLOADS=1 -DMAX_FAULT=1 -DMAX_CRASH=0 -DREJECTS=0 -DAGED=0)

  add_test(NAME model_coverage COMMAND python3 ${SLUICE_MODEL_SRC}/coverage.py ${SLUICE_MODEL_DIR}
                                       ${SLUICE_MODEL_SRC}/protocol_table.pml ${SLUICE_MODEL_SRC}/unreachable.txt)
  set_tests_properties(model_coverage PROPERTIES LABELS model FIXTURES_REQUIRED model_runs)
endif()

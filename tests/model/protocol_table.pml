/* Generated from mover/state/protocol.h: do not edit. */
#define R_look_manifest 0
#define R_look_trusted 1
#define R_admit 2
#define R_quarantine_copy 3
#define R_quarantine_look 4
#define R_staging_delete 5
#define R_check 6
#define R_gate 7
#define R_park_copy 8
#define R_park_look 9
#define R_park_manifest 10
#define R_park_manifest_look 11
#define R_park_record 12
#define R_park_source_delete 13
#define R_approve 14
#define R_promote_head 15
#define R_promote_copy 16
#define R_promote_look 17
#define R_promoted_record 18
#define R_promoted_manifest 19
#define R_source_delete 20
#define R_adopt_manifest 21
#define R_leftover_record 22
#define R_leftover_delete 23
#define R_sweep_manifest 24
#define R_sweep_trusted 25
#define R_expire 26
#define R_purge_manifest 27
#define R_purge_record 28
#define R_purge_delete 29
#define R_DONE 30
#define R_LEAVE 31
#define R_DROP 32
#define R_RETRY 33
#define ROW_COUNT 30
#define O_ok 0
#define O_absent 1
#define O_conflict 2
#define O_refused 3
#define O_indefinite 4
#define O_ours 5
#define O_exhausted 6
#define O_skipped 7
#define O_approve 8
#define O_review 9
#define O_block 10
#define O_reject 11
#define O_decided 12
#define O_retried 13
#define O_review_ttl_over 14
#define O_retention_over 15
#define O_waiting 16
#define O_unrecorded 17
#define OUTCOME_COUNT 18
#define Q_NONE 0
#define Q_TASK_ADMIT 1
#define Q_GET_MANIFEST 2
#define Q_HEAD_TRUSTED 3
#define Q_HEAD_QUARANTINE 4
#define Q_COPY_TO_QUARANTINE 5
#define Q_DELETE_STAGING 6
#define Q_GET_SOURCE 7
#define Q_COPY_TO_TRUSTED 8
#define Q_DELETE_SOURCE 9
#define Q_PUT_MANIFEST 10
#define Q_DELETE_QUARANTINE 11
#define S_NEVER 0
#define S_IN_PLACE 1
#define S_SOURCE_QUARANTINED 2
#define S_NOT_KEPT 3
#define S_TRUSTED_KNOWN_FREE 4
#define S_NO_MANIFEST 5
#define S_RECORDED 6
#define S_PURGED 7
#define ST_KEEP -1
#define ST_VERDICT -2
#define V_NONE -1
#define A_staged 0
#define A_quarantined 1
#define A_checking 2
#define A_blocked 3
#define A_in_review 4
#define A_approved 5
#define A_rejected 6
#define A_expired 7
#define A_promoting 8
#define A_promoted 9
#define A_purged 10
#define A_failed 11
#define A_TERMINAL_MASK 1736

inline transition_allowed(from, to, ok) {
    if
    :: from == A_staged && to == A_quarantined -> ok = true
    :: from == A_staged && to == A_rejected -> ok = true
    :: from == A_staged && to == A_checking -> ok = true
    :: from == A_quarantined && to == A_checking -> ok = true
    :: from == A_quarantined && to == A_blocked -> ok = true
    :: from == A_checking && to == A_blocked -> ok = true
    :: from == A_checking && to == A_in_review -> ok = true
    :: from == A_checking && to == A_approved -> ok = true
    :: from == A_in_review && to == A_approved -> ok = true
    :: from == A_in_review && to == A_rejected -> ok = true
    :: from == A_in_review && to == A_expired -> ok = true
    :: from == A_in_review && to == A_blocked -> ok = true
    :: from == A_approved && to == A_promoting -> ok = true
    :: from == A_promoting && to == A_promoted -> ok = true
    :: from == A_blocked && to == A_purged -> ok = true
    :: from == A_rejected && to == A_purged -> ok = true
    :: from == A_expired && to == A_purged -> ok = true
    :: from == A_staged && to == A_failed -> ok = true
    :: from == A_quarantined && to == A_failed -> ok = true
    :: from == A_checking && to == A_failed -> ok = true
    :: from == A_in_review && to == A_failed -> ok = true
    :: from == A_approved && to == A_failed -> ok = true
    :: from == A_promoting && to == A_failed -> ok = true
    :: from == A_failed && to == A_quarantined -> ok = true
    :: else -> ok = false
    fi
}

inline row_info(row, req, skp, st) {
    if
    :: row == R_look_manifest -> req = 2; skp = 0; st = 0
    :: row == R_look_trusted -> req = 3; skp = 0; st = 0
    :: row == R_admit -> req = 1; skp = 0; st = 0
    :: row == R_quarantine_copy -> req = 5; skp = 1; st = 0
    :: row == R_quarantine_look -> req = 4; skp = 0; st = 0
    :: row == R_staging_delete -> req = 6; skp = 1; st = 1
    :: row == R_check -> req = 7; skp = 0; st = 2
    :: row == R_gate -> req = 0; skp = 0; st = 2
    :: row == R_park_copy -> req = 5; skp = 3; st = -1
    :: row == R_park_look -> req = 4; skp = 0; st = -1
    :: row == R_park_manifest -> req = 10; skp = 0; st = -1
    :: row == R_park_manifest_look -> req = 2; skp = 0; st = -1
    :: row == R_park_record -> req = 0; skp = 0; st = -2
    :: row == R_park_source_delete -> req = 6; skp = 2; st = -1
    :: row == R_approve -> req = 0; skp = 0; st = 5
    :: row == R_promote_head -> req = 3; skp = 4; st = 8
    :: row == R_promote_copy -> req = 8; skp = 0; st = 8
    :: row == R_promote_look -> req = 3; skp = 0; st = 8
    :: row == R_promoted_record -> req = 0; skp = 6; st = 9
    :: row == R_promoted_manifest -> req = 10; skp = 5; st = 9
    :: row == R_source_delete -> req = 9; skp = 0; st = 9
    :: row == R_adopt_manifest -> req = 2; skp = 0; st = -1
    :: row == R_leftover_record -> req = 0; skp = 6; st = -1
    :: row == R_leftover_delete -> req = 6; skp = 2; st = -1
    :: row == R_sweep_manifest -> req = 2; skp = 0; st = -1
    :: row == R_sweep_trusted -> req = 3; skp = 0; st = 1
    :: row == R_expire -> req = 10; skp = 0; st = -1
    :: row == R_purge_manifest -> req = 10; skp = 7; st = -1
    :: row == R_purge_record -> req = 0; skp = 6; st = 10
    :: row == R_purge_delete -> req = 11; skp = 0; st = -1
    fi
}

inline protocol_next(row, outcome, nxt, verdict) {
    if
    :: row == R_look_manifest && outcome == O_ours -> nxt = 21; verdict = -1
    :: row == R_look_manifest && outcome == O_absent -> nxt = 1; verdict = -1
    :: row == R_look_manifest && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_look_manifest && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_look_manifest && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_look_trusted && outcome == O_ours -> nxt = 18; verdict = -1
    :: row == R_look_trusted && outcome == O_absent -> nxt = 2; verdict = -1
    :: row == R_look_trusted && outcome == O_conflict -> nxt = 2; verdict = -1
    :: row == R_look_trusted && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_look_trusted && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_look_trusted && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_admit && outcome == O_ok -> nxt = 3; verdict = -1
    :: row == R_admit && outcome == O_reject -> nxt = 8; verdict = 6
    :: row == R_admit && outcome == O_indefinite -> nxt = 31; verdict = -1
    :: row == R_quarantine_copy && outcome == O_skipped -> nxt = 6; verdict = -1
    :: row == R_quarantine_copy && outcome == O_ok -> nxt = 5; verdict = -1
    :: row == R_quarantine_copy && outcome == O_conflict -> nxt = 32; verdict = -1
    :: row == R_quarantine_copy && outcome == O_absent -> nxt = 32; verdict = -1
    :: row == R_quarantine_copy && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_quarantine_copy && outcome == O_indefinite -> nxt = 4; verdict = -1
    :: row == R_quarantine_copy && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_quarantine_look && outcome == O_ok -> nxt = 5; verdict = -1
    :: row == R_quarantine_look && outcome == O_absent -> nxt = 3; verdict = -1
    :: row == R_quarantine_look && outcome == O_conflict -> nxt = 3; verdict = -1
    :: row == R_quarantine_look && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_quarantine_look && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_quarantine_look && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_staging_delete && outcome == O_skipped -> nxt = 6; verdict = -1
    :: row == R_staging_delete && outcome == O_ok -> nxt = 6; verdict = -1
    :: row == R_staging_delete && outcome == O_absent -> nxt = 6; verdict = -1
    :: row == R_staging_delete && outcome == O_conflict -> nxt = 6; verdict = -1
    :: row == R_staging_delete && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_staging_delete && outcome == O_exhausted -> nxt = 6; verdict = -1
    :: row == R_staging_delete && outcome == O_refused -> nxt = 6; verdict = -1
    :: row == R_check && outcome == O_ok -> nxt = 7; verdict = -1
    :: row == R_check && outcome == O_absent -> nxt = 32; verdict = -1
    :: row == R_check && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_check && outcome == O_exhausted -> nxt = 8; verdict = 11
    :: row == R_check && outcome == O_refused -> nxt = 8; verdict = 11
    :: row == R_gate && outcome == O_approve -> nxt = 14; verdict = -1
    :: row == R_gate && outcome == O_review -> nxt = 8; verdict = 4
    :: row == R_gate && outcome == O_block -> nxt = 8; verdict = 3
    :: row == R_park_copy && outcome == O_skipped -> nxt = 10; verdict = -1
    :: row == R_park_copy && outcome == O_ok -> nxt = 10; verdict = -1
    :: row == R_park_copy && outcome == O_conflict -> nxt = 32; verdict = -1
    :: row == R_park_copy && outcome == O_absent -> nxt = 32; verdict = -1
    :: row == R_park_copy && outcome == O_indefinite -> nxt = 9; verdict = -1
    :: row == R_park_copy && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_park_copy && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_park_look && outcome == O_ok -> nxt = 10; verdict = -1
    :: row == R_park_look && outcome == O_absent -> nxt = 8; verdict = -1
    :: row == R_park_look && outcome == O_conflict -> nxt = 8; verdict = -1
    :: row == R_park_look && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_park_look && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_park_look && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_park_manifest && outcome == O_ok -> nxt = 12; verdict = -1
    :: row == R_park_manifest && outcome == O_conflict -> nxt = 21; verdict = -1
    :: row == R_park_manifest && outcome == O_indefinite -> nxt = 11; verdict = -1
    :: row == R_park_manifest && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_park_manifest && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_park_manifest_look && outcome == O_ours -> nxt = 12; verdict = -1
    :: row == R_park_manifest_look && outcome == O_conflict -> nxt = 21; verdict = -1
    :: row == R_park_manifest_look && outcome == O_absent -> nxt = 10; verdict = -1
    :: row == R_park_manifest_look && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_park_manifest_look && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_park_manifest_look && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_park_record && outcome == O_ok -> nxt = 13; verdict = -1
    :: row == R_park_source_delete && outcome == O_skipped -> nxt = 30; verdict = -1
    :: row == R_park_source_delete && outcome == O_ok -> nxt = 30; verdict = -1
    :: row == R_park_source_delete && outcome == O_absent -> nxt = 30; verdict = -1
    :: row == R_park_source_delete && outcome == O_conflict -> nxt = 30; verdict = -1
    :: row == R_park_source_delete && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_park_source_delete && outcome == O_exhausted -> nxt = 30; verdict = -1
    :: row == R_park_source_delete && outcome == O_refused -> nxt = 30; verdict = -1
    :: row == R_approve && outcome == O_ok -> nxt = 15; verdict = -1
    :: row == R_promote_head && outcome == O_skipped -> nxt = 16; verdict = -1
    :: row == R_promote_head && outcome == O_absent -> nxt = 16; verdict = -1
    :: row == R_promote_head && outcome == O_ours -> nxt = 18; verdict = -1
    :: row == R_promote_head && outcome == O_conflict -> nxt = 8; verdict = 11
    :: row == R_promote_head && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_promote_head && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_promote_head && outcome == O_refused -> nxt = 8; verdict = 11
    :: row == R_promote_copy && outcome == O_ok -> nxt = 18; verdict = -1
    :: row == R_promote_copy && outcome == O_conflict -> nxt = 17; verdict = -1
    :: row == R_promote_copy && outcome == O_absent -> nxt = 32; verdict = -1
    :: row == R_promote_copy && outcome == O_indefinite -> nxt = 17; verdict = -1
    :: row == R_promote_copy && outcome == O_refused -> nxt = 8; verdict = 11
    :: row == R_promote_copy && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_promote_look && outcome == O_ours -> nxt = 18; verdict = -1
    :: row == R_promote_look && outcome == O_absent -> nxt = 16; verdict = -1
    :: row == R_promote_look && outcome == O_conflict -> nxt = 8; verdict = 11
    :: row == R_promote_look && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_promote_look && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_promote_look && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_promoted_record && outcome == O_ok -> nxt = 19; verdict = -1
    :: row == R_promoted_record && outcome == O_skipped -> nxt = 19; verdict = -1
    :: row == R_promoted_manifest && outcome == O_skipped -> nxt = 20; verdict = -1
    :: row == R_promoted_manifest && outcome == O_ok -> nxt = 20; verdict = -1
    :: row == R_promoted_manifest && outcome == O_conflict -> nxt = 20; verdict = -1
    :: row == R_promoted_manifest && outcome == O_indefinite -> nxt = 20; verdict = -1
    :: row == R_promoted_manifest && outcome == O_refused -> nxt = 20; verdict = -1
    :: row == R_promoted_manifest && outcome == O_exhausted -> nxt = 20; verdict = -1
    :: row == R_source_delete && outcome == O_ok -> nxt = 30; verdict = -1
    :: row == R_source_delete && outcome == O_absent -> nxt = 30; verdict = -1
    :: row == R_source_delete && outcome == O_conflict -> nxt = 30; verdict = -1
    :: row == R_source_delete && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_source_delete && outcome == O_exhausted -> nxt = 30; verdict = -1
    :: row == R_source_delete && outcome == O_refused -> nxt = 30; verdict = -1
    :: row == R_adopt_manifest && outcome == O_ours -> nxt = 22; verdict = -1
    :: row == R_adopt_manifest && outcome == O_absent -> nxt = 31; verdict = -1
    :: row == R_adopt_manifest && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_adopt_manifest && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_adopt_manifest && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_leftover_record && outcome == O_ok -> nxt = 23; verdict = -1
    :: row == R_leftover_record && outcome == O_skipped -> nxt = 23; verdict = -1
    :: row == R_leftover_delete && outcome == O_skipped -> nxt = 30; verdict = -1
    :: row == R_leftover_delete && outcome == O_ok -> nxt = 30; verdict = -1
    :: row == R_leftover_delete && outcome == O_absent -> nxt = 30; verdict = -1
    :: row == R_leftover_delete && outcome == O_conflict -> nxt = 30; verdict = -1
    :: row == R_leftover_delete && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_leftover_delete && outcome == O_exhausted -> nxt = 30; verdict = -1
    :: row == R_leftover_delete && outcome == O_refused -> nxt = 30; verdict = -1
    :: row == R_sweep_manifest && outcome == O_absent -> nxt = 25; verdict = -1
    :: row == R_sweep_manifest && outcome == O_decided -> nxt = 17; verdict = -1
    :: row == R_sweep_manifest && outcome == O_ours -> nxt = 18; verdict = -1
    :: row == R_sweep_manifest && outcome == O_retried -> nxt = 6; verdict = -1
    :: row == R_sweep_manifest && outcome == O_review_ttl_over -> nxt = 26; verdict = -1
    :: row == R_sweep_manifest && outcome == O_retention_over -> nxt = 27; verdict = -1
    :: row == R_sweep_manifest && outcome == O_waiting -> nxt = 30; verdict = -1
    :: row == R_sweep_manifest && outcome == O_unrecorded -> nxt = 22; verdict = -1
    :: row == R_sweep_manifest && outcome == O_indefinite -> nxt = 31; verdict = -1
    :: row == R_sweep_manifest && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_sweep_manifest && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_sweep_trusted && outcome == O_ours -> nxt = 18; verdict = -1
    :: row == R_sweep_trusted && outcome == O_absent -> nxt = 6; verdict = -1
    :: row == R_sweep_trusted && outcome == O_conflict -> nxt = 6; verdict = -1
    :: row == R_sweep_trusted && outcome == O_indefinite -> nxt = 31; verdict = -1
    :: row == R_sweep_trusted && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_sweep_trusted && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_expire && outcome == O_ok -> nxt = 30; verdict = -1
    :: row == R_expire && outcome == O_conflict -> nxt = 31; verdict = -1
    :: row == R_expire && outcome == O_indefinite -> nxt = 31; verdict = -1
    :: row == R_expire && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_expire && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_purge_manifest && outcome == O_skipped -> nxt = 28; verdict = -1
    :: row == R_purge_manifest && outcome == O_ok -> nxt = 28; verdict = -1
    :: row == R_purge_manifest && outcome == O_conflict -> nxt = 31; verdict = -1
    :: row == R_purge_manifest && outcome == O_indefinite -> nxt = 31; verdict = -1
    :: row == R_purge_manifest && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_purge_manifest && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: row == R_purge_record && outcome == O_ok -> nxt = 29; verdict = -1
    :: row == R_purge_record && outcome == O_skipped -> nxt = 29; verdict = -1
    :: row == R_purge_delete && outcome == O_ok -> nxt = 30; verdict = -1
    :: row == R_purge_delete && outcome == O_absent -> nxt = 30; verdict = -1
    :: row == R_purge_delete && outcome == O_indefinite -> nxt = 33; verdict = -1
    :: row == R_purge_delete && outcome == O_refused -> nxt = 31; verdict = -1
    :: row == R_purge_delete && outcome == O_exhausted -> nxt = 31; verdict = -1
    :: else -> nxt = R_LEAVE; verdict = V_NONE; table_gap = true
    fi
}

/*
 * protocol.pml — a Promela model of the artifact protocol, checked by spin (ctest -L model;
 * tests/model/README.md says what is modelled, what is abstracted, the bounds and the
 * figures).
 *
 * The mover's control flow is the generated table and nothing else: an artifact is always
 * at one row, looked up with row_info() (its request, skip condition and state) and left
 * with protocol_next() (the next row or end for the outcome), both generated from
 * mover/state/protocol.h into protocol_table.pml; entering a row's state goes through
 * transition_allowed(), generated from state/artifact.h's transitions table. What this
 * file adds is what the tables leave to the code and to the world: what each request does
 * to S3 and which outcome it gives (pipeline/rows_*.c), skip conditions, state entry,
 * retries and ends (executor.c), where work comes from (watch.c: listings, the first whole
 * listing, ended ids and the stale-listing guard, the quarantine sweep, kicks) and the audit
 * ledger (exact here: it sees the whole log).
 *
 * One step of a mover is one S3 request of one artifact: its effect, its answer (or a
 * fault), the table's entry for the outcome, and the rows the executor then runs at once
 * (decisions, records, skipped rows) up to the artifact's next request.
 *
 * The world: one route, one staging key; an interpreter uploads one or two versions of it
 * (each at any moment: the second is a replacement racing the mover), each good, bad or
 * one that admission rejects. Every request may succeed or be refused as S3 would refuse
 * it (404, 412: as the state says); a fault (at most MAX_FAULT) makes it indefinite before
 * or AFTER it took effect, or refused; an indefinite read or delete that the table retries
 * may run out of budget instead (MAX_EXHAUST); a mover may crash between steps or right
 * after a request took effect (MAX_CRASH), losing everything it knew (artifacts in flight,
 * ended ids, the first listing) but not S3 or its audit log. Then the world calms down (no
 * more uploads, faults or decisions) and each mover gets ROUNDS more listings of staging
 * and of quarantine: by then every version must have settled (ltl settles; checker).
 *
 * Configurations (spin -D...): MOVERS 1|2 (two processes, each with its own memory and
 * audit log, no leases); VERSIONED 1|0 (0: unversioned staging with conditional deletes);
 * IN_PLACE 1|0 (check and promote the staging version in place); COPY_INM 1|0 (the server
 * honours If-None-Match on CopyObject); HUMAN 0|1 (review mode human: a reviewer decides,
 * an operator may retry a failed artifact); REJECTS, AGED (admission rejections; review_ttl
 * and retention running out); PROMOTE_LOCK (one promotion per trusted key at a time in a
 * mover: the fix proposed for servers without If-None-Match on CopyObject).
 */
#include "protocol_table.pml"

/* ---- configuration ---- */
#ifndef MOVERS
#define MOVERS 1
#endif
#ifndef VERSIONED
#define VERSIONED 1
#endif
#ifndef IN_PLACE
#define IN_PLACE 1
#endif
#ifndef COPY_INM
#define COPY_INM 1
#endif
#ifndef HUMAN
#define HUMAN 0
#endif
#ifndef REJECTS
#define REJECTS 1
#endif
#ifndef AGED
#define AGED 1
#endif
#ifndef PROMOTE_LOCK
#define PROMOTE_LOCK 1
#endif
#ifndef UPLOADS
#define UPLOADS 2
#endif
#ifndef MAX_FAULT
#define MAX_FAULT 2
#endif
#ifndef MAX_CRASH
#define MAX_CRASH 1
#endif
#ifndef MAX_EXHAUST
#define MAX_EXHAUST 1
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif
/* an artifact in trusted has no manifest that says otherwise, and a purged one has no
 * quarantine copy left. Two movers without leases may both judge one artifact: one's
 * budget runs out (failed) while the other promotes; one parks a copy of a version the
 * other has purged meanwhile, and its own calm sweeps may have run before (a later sweep
 * deletes it). */
#ifndef STRICT_PLACE
#define STRICT_PLACE (MOVERS == 1)
#endif
/* every outcome S3 shows is in an audit log at the end. Two movers without leases may both
 * judge one version: one commits failed while the other's copy lands in trusted and it
 * dies before its record; nothing looks at trusted again (README: open finding). */
#ifndef STRICT_AUDIT
#define STRICT_AUDIT (MOVERS == 1)
#endif

#define NV 3 /* version (= artifact) ids 1..2; 0 means none */

/* content of an upload */
#define C_GOOD 0
#define C_BAD 1
#define C_REJECT 2 /* admission rejects it (task closed, a key the layout cannot hold) */

/* what a fault does to one request */
#define F_NONE 0
#define F_BEFORE 1      /* indefinite; nothing happened */
#define F_AFTER 2       /* indefinite; it happened (a timeout after the server acted) */
#define F_REFUSED 3     /* a definite refusal (403, 400): nothing happened */
#define F_CRASH_AFTER 4 /* it happened, and the mover died before the answer */

#define BIT(s) (1 << (s))
/* outcomes outside trusted whose bytes may be deleted after retention */
#define GONE_OK_MASK (BIT(A_blocked) | BIT(A_rejected) | BIT(A_expired) | BIT(A_purged))
/* final outcomes: never two of these for one artifact */
#define FINAL_MASK (BIT(A_promoted) | BIT(A_blocked) | BIT(A_rejected) | BIT(A_expired))
/* what a settled artifact's manifest may say (final or waiting) */
#define SETTLED_MASK (GONE_OK_MASK | BIT(A_in_review) | BIT(A_failed))

/* ---- S3 ---- */
bit stg[NV];        /* versioned staging: the version is there */
byte cur;           /* unversioned staging: the upload the key holds (0: none) */
byte content[NV];
byte uploaded;      /* versions uploaded so far */
bit by_writer[NV];  /* unversioned: replaced by its writer while it was in staging */
bit q[NV];          /* the quarantine copy of the artifact */
byte trusted;       /* the artifact whose bytes and sluice-artifact the trusted key holds */
byte man[NV];       /* the manifest: 0 none, else its state + 1 */
byte mprev[NV];     /* the state its last transition came from (purged: the one before) */
byte metag[NV];     /* the manifest's ETag (its write count) */

#if VERSIONED
#define IN_STAGING(v) (stg[v] == 1)
#else
#define IN_STAGING(v) (cur == (v))
#endif

/* ---- the audit logs: per mover and artifact, the states recorded (a bitmask) ---- */
short rec[MOVERS * NV];
#define LOG(m, v) rec[(m) * NV + (v)]
#define LOGGED(m, v, s) ((LOG(m, v) & BIT(s)) != 0)

/* the names of the properties: always 0, or'ed into their assertions so that a violation
 * names the property it breaks */
hidden byte terminal_once_per_log, one_final_outcome, final_is_final, gate_judges_bytes_read;
hidden byte only_checked_bytes_promoted, table_has_every_entry, trusted_never_overwritten, no_upload_lost;
hidden byte promoted_never_contradicted, audit_complete, settled_and_clean, in_one_place;

/* ---- ghosts and the world ---- */
bit gate_ok[NV];    /* a gate approved (or sent to review) these bytes after reading them */
bit overwrote;      /* a copy to trusted replaced another artifact's object */
bit table_gap;      /* protocol_next had no entry */
bit calm;           /* no more uploads, faults, crashes, decisions */
bit aged;           /* review_ttl and retention are over */
byte faults = MAX_FAULT;
byte crashes = MAX_CRASH;
byte exhausts = MAX_EXHAUST;
byte op_retries = 1;

/* ---- a mover's memory (lost when it crashes) ---- */
typedef Slot {
    bit busy;       /* the id is queued or in flight (watch.c's ids) */
    byte row;
    byte st;        /* the artifact's state as this run knows it */
    short verdict;  /* V_NONE, or the state the park rows record */
    bit srcq;       /* source_quarantined */
    bit inplace;
    bit loaded;     /* a manifest was loaded ... */
    byte lstate;    /* ... in this state ... */
    byte letag;     /* ... with this ETag */
    bit kicked;
    bit leftover;   /* a clean-up failed */
    bit read;       /* the check read every byte */
    bit tfree;      /* a HEAD found the trusted key free, no copy to it since (promote_head skips) */
};

typedef Mover {
    Slot s[NV];
    bit ended[NV];     /* this run ended the id ... */
    bit end_poll[NV];  /* ... after the staging listing in flight was sent */
    bit end_sweep[NV]; /* ... after the quarantine listing in flight was sent */
    bit settled[NV];   /* the sweep skips it (its manifest says it waits) */
    bit cycle;         /* a whole staging listing finished in this run */
    bit polling;
    bit poll_saw[NV];
    bit sweeping;
    bit sweep_saw[NV];
    byte holder;       /* PROMOTE_LOCK: the artifact promoting to the trusted key */
    byte polls;        /* listings sent since the world calmed down */
    byte sweeps;
};

Mover mv[MOVERS];

#define A mv[m].s[v]
#define ACTIVE(mm) (mv[mm].s[1].busy || mv[mm].s[2].busy)
#define IDLE(mm) (!ACTIVE(mm) && !mv[mm].polling && !mv[mm].sweeping)
#define ROUNDS_DONE(mm) (mv[mm].polls >= ROUNDS && mv[mm].sweeps >= ROUNDS && IDLE(mm))
#if MOVERS == 1
#define DONE (calm && ROUNDS_DONE(0))
#else
#define DONE (calm && ROUNDS_DONE(0) && ROUNDS_DONE(1))
#endif

/* scratch of one step (not part of the state: always written before it is read) */
hidden byte t_row, t_from, t_req, t_skip, t_out, t_end, t_fault, t_i, t_ok, t_crash, t_eff, t_mut, t_call;
hidden byte t_sent, t_retry, t_exh, t_204, t_absent;
hidden short t_st, t_nxt, t_verd, t_want, t_fin;

/* coverage over the whole search (hidden: never undone when the search backs up) */
hidden byte cov_row[ROW_COUNT];
hidden byte cov_pair[ROW_COUNT * OUTCOME_COUNT];

inline cover(r, o) {
    if
    :: cov_row[r] == 0 -> cov_row[r] = 1; c_code { printf("COVER row %d\n", (int)t_row); }
    :: else -> skip
    fi;
    if
    :: cov_pair[r * OUTCOME_COUNT + o] == 0 -> cov_pair[r * OUTCOME_COUNT + o] = 1; c_code { printf("COVER pair %d %d\n", (int)t_row, (int)t_out); }
    :: else -> skip
    fi
}

/* ---- the audit log ---- */

/* record_change: one record; the ledger notes it. A terminal state twice in one log is a
 * violation; so is a second final outcome across all logs. */
inline record(rm, rv, rs) {
    assert(!((A_TERMINAL_MASK & BIT(rs)) != 0 && LOGGED(rm, rv, rs)) || terminal_once_per_log);
    LOG(rm, rv) = LOG(rm, rv) | BIT(rs);
#if MOVERS == 1
    t_fin = LOG(0, rv) & FINAL_MASK;
#else
    t_fin = (LOG(0, rv) | LOG(1, rv)) & FINAL_MASK;
#endif
    assert((t_fin & (t_fin - 1)) == 0 || one_final_outcome) /* at most one final outcome, across all logs */
}

/* a manifest write: a final state is never left (blocked, rejected, expired only to purged) */
inline write_manifest(wv, ws) {
    assert(man[wv] == 0 || (GONE_OK_MASK & BIT(man[wv] - 1)) == 0 || ws == man[wv] - 1 || ws == A_purged ||
           final_is_final);
    assert(man[wv] == 0 || man[wv] - 1 != A_promoted || ws == A_promoted || final_is_final);
    mprev[wv] = (man[wv] == 0 -> 0 : man[wv] - 1);
    man[wv] = ws + 1;
    metag[wv] = metag[wv] + 1
}

/* ---- a mover's memory ---- */

inline clear_slot(mm, vv) {
    mv[mm].s[vv].busy = 0; mv[mm].s[vv].row = 0; mv[mm].s[vv].st = 0; mv[mm].s[vv].verdict = 0;
    mv[mm].s[vv].srcq = 0; mv[mm].s[vv].inplace = 0; mv[mm].s[vv].loaded = 0; mv[mm].s[vv].lstate = 0;
    mv[mm].s[vv].letag = 0; mv[mm].s[vv].kicked = 0; mv[mm].s[vv].leftover = 0; mv[mm].s[vv].read = 0;
    mv[mm].s[vv].tfree = 0
}

/* executor_start: a queued entry starts at its entry row (every entry row makes a request) */
inline start(mm, vv, entry, staging, bykick) {
    mv[mm].s[vv].busy = 1;
    mv[mm].s[vv].row = entry;
    mv[mm].s[vv].st = A_staged;
    mv[mm].s[vv].verdict = V_NONE;
    mv[mm].s[vv].srcq = !staging;
    mv[mm].s[vv].inplace = (staging && VERSIONED && IN_PLACE);
    mv[mm].s[vv].kicked = bykick
}

/* artifact_end: the stale-listing guard notes the end */
inline finish(mm, vv) {
    mv[mm].ended[vv] = 1;
    mv[mm].end_poll[vv] = mv[mm].polling;
    mv[mm].end_sweep[vv] = mv[mm].sweeping;
    clear_slot(mm, vv)
}

/* a crash: everything the process knew is gone; S3 and the audit log stay */
inline crash(mm) {
    t_i = 1;
    do
    :: t_i < NV ->
        clear_slot(mm, t_i);
        mv[mm].ended[t_i] = 0; mv[mm].end_poll[t_i] = 0; mv[mm].end_sweep[t_i] = 0;
        mv[mm].settled[t_i] = 0; mv[mm].poll_saw[t_i] = 0; mv[mm].sweep_saw[t_i] = 0;
        t_i++
    :: else -> break
    od;
    mv[mm].cycle = 0; mv[mm].polling = 0; mv[mm].sweeping = 0; mv[mm].holder = 0
}

/* pipeline_kick: a decision asks the mover to look at the id at once */
inline kick(mm, vv) {
    mv[mm].settled[vv] = 0;
    if
    :: !mv[mm].s[vv].busy -> start(mm, vv, R_sweep_manifest, 0, 1)
    :: else -> skip
    fi
}

/* ---- watch.c: listings (the server answers as things are when the request arrives) ---- */

inline poll_send(mm) {
    mv[mm].polling = 1;
    t_i = 1;
    do
    :: t_i < NV -> mv[mm].poll_saw[t_i] = IN_STAGING(t_i); mv[mm].end_poll[t_i] = 0; t_i++
    :: else -> break
    od
}

/* classify_listed: queued or in flight, or ended after the listing was sent: skipped; ended
 * before it (a leftover) or listed before the first whole listing: SEEN; else NEW */
inline poll_answer(mm) {
    t_i = 1;
    do
    :: t_i < NV ->
        if
        :: mv[mm].poll_saw[t_i] && !mv[mm].s[t_i].busy && !(mv[mm].ended[t_i] && mv[mm].end_poll[t_i]) ->
            if
            :: mv[mm].ended[t_i] || !mv[mm].cycle -> start(mm, t_i, R_look_manifest, 1, 0)
            :: else -> start(mm, t_i, R_admit, 1, 0)
            fi
        :: else -> skip
        fi;
        mv[mm].poll_saw[t_i] = 0; mv[mm].end_poll[t_i] = 0;
        t_i++
    :: else -> break
    od;
    mv[mm].cycle = 1;
    mv[mm].polling = 0
}

inline sweep_send(mm) {
    mv[mm].sweeping = 1;
    t_i = 1;
    do
    :: t_i < NV -> mv[mm].sweep_saw[t_i] = q[t_i]; mv[mm].end_sweep[t_i] = 0; t_i++
    :: else -> break
    od
}

inline sweep_answer(mm) {
    t_i = 1;
    do
    :: t_i < NV ->
        if
        :: mv[mm].sweep_saw[t_i] && !mv[mm].s[t_i].busy && !(mv[mm].ended[t_i] && mv[mm].end_sweep[t_i]) &&
           !(mv[mm].settled[t_i] && !aged) ->
            start(mm, t_i, R_sweep_manifest, 0, 0)
        :: else -> skip
        fi;
        mv[mm].sweep_saw[t_i] = 0; mv[mm].end_sweep[t_i] = 0;
        t_i++
    :: else -> break
    od;
    mv[mm].sweeping = 0
}

/* a listing that can take something (outside the calm rounds, idle listings add nothing
 * but the first one, which makes later versions NEW) */
#define POLL_USEFUL(mm) (!mv[mm].cycle || IN_STAGING(1) && !mv[mm].s[1].busy || IN_STAGING(2) && !mv[mm].s[2].busy)
#define SWEEP_TAKES(mm, vv) (q[vv] && !mv[mm].s[vv].busy && !(mv[mm].settled[vv] && !aged))
#define SWEEP_USEFUL(mm) (SWEEP_TAKES(mm, 1) || SWEEP_TAKES(mm, 2))

/* ---- executor.c ---- */

#define MUTATION(r) (r == Q_COPY_TO_QUARANTINE || r == Q_DELETE_STAGING || r == Q_COPY_TO_TRUSTED || \
                     r == Q_DELETE_SOURCE || r == Q_PUT_MANIFEST || r == Q_DELETE_QUARANTINE)
/* rows that decide without a request: decisions, records, a manifest loaded already */
#define CALLS (!(t_req == Q_NONE || t_req == Q_GET_MANIFEST && A.loaded && \
                 (A.row == R_look_manifest || A.row == R_adopt_manifest)))
#define PROMOTE_ROW(r) (r == R_promote_head || r == R_promote_copy || r == R_promote_look)

/* skipped(): whether the row's skip condition holds */
inline skip_holds() {
    if
    :: t_skip == S_NEVER -> t_ok = false
    :: t_skip == S_IN_PLACE -> t_ok = A.inplace
    :: t_skip == S_SOURCE_QUARANTINED -> t_ok = A.srcq
    :: t_skip == S_NOT_KEPT -> t_ok = (A.verdict == A_rejected || A.srcq)
    :: t_skip == S_TRUSTED_KNOWN_FREE -> t_ok = (COPY_INM || A.tfree)
    :: t_skip == S_NO_MANIFEST -> t_ok = !A.loaded
    :: t_skip == S_RECORDED ->
        /* the manifest's outcome (leftover_record), or the row's own state */
        if
        :: A.row == R_leftover_record && A.loaded -> t_ok = LOGGED(m, v, A.lstate)
        :: else -> t_ok = LOGGED(m, v, t_st)
        fi
    :: t_skip == S_PURGED -> t_ok = (A.loaded && A.lstate == A_purged)
    fi
}

/* enter_state(): record the row's state, through the transitions table */
inline enter_state() {
    t_ok = true;
    if
    :: t_st == ST_KEEP -> skip
    :: else ->
        if
        :: t_st == ST_VERDICT -> t_want = A.verdict
        :: else -> t_want = t_st
        fi;
        if
        :: t_want == A.st -> skip
        :: else ->
            t_from = A.st;
            transition_allowed(t_from, t_want, t_ok);
            if
            :: !t_ok && t_want == A_promoted ->
                /* found in trusted: the copy that made it was this artifact's promotion */
                A.st = A_promoting; t_ok = true
            :: else -> skip
            fi;
            if
            :: t_ok -> record(m, v, t_want); A.st = t_want
            :: else -> skip /* record_move refuses: the artifact is left where it is */
            fi
        fi
    fi
}

/* the outcome the client sees: the server's answer, unless a fault cut it */
inline answer(o) {
    if
    :: t_fault == F_NONE -> t_out = o
    :: t_fault == F_BEFORE || t_fault == F_AFTER -> t_out = O_indefinite
    :: t_fault == F_REFUSED -> t_out = O_refused
    :: t_fault == F_CRASH_AFTER -> t_crash = 1
    fi
}

/* a delete of what is not there: 204 or 404, as the server likes */
inline absent_delete() {
    if
    :: t_204 -> answer(O_ok)
    :: else -> answer(O_absent)
    fi
}

/* a staging delete: by version id (versioned), or If-Match its ETag */
inline delete_staging() {
#if VERSIONED
    if
    :: stg[v] -> if :: t_eff -> stg[v] = 0 :: else -> skip fi; answer(O_ok)
    :: else -> absent_delete()
    fi;
#else
    if
    :: cur == v -> if :: t_eff -> cur = 0 :: else -> skip fi; answer(O_ok)
    :: cur == 0 -> answer(O_absent)
    :: else -> answer(O_conflict) /* replaced since: If-Match refuses */
    fi;
#endif
    A.leftover = !(t_out == O_ok || t_out == O_absent || t_out == O_conflict)
}

/* the artifact's bytes where the row reads or copies them from */
#define SOURCE_THERE (A.srcq && q[v] || !A.srcq && IN_STAGING(v))

/* the one request of a row, or its decision (rows_intake.c, rows_check.c, rows_settle.c) */
inline run_request() {
    if
    :: t_call -> t_eff = (t_fault == F_NONE || t_fault == F_AFTER || t_fault == F_CRASH_AFTER)
    :: else -> t_eff = 1
    fi;
    if
    :: t_req == Q_NONE ->
        if
        :: A.row == R_gate ->
            assert(A.read || gate_judges_bytes_read);
            if
            :: content[v] == C_GOOD -> gate_ok[v] = 1; t_out = (HUMAN -> O_review : O_approve)
            :: else -> t_out = O_block
            fi
        :: A.row == R_leftover_record ->
            /* the manifest's outcome, recorded now: the run that committed it stopped first */
            if
            :: A.loaded -> t_want = A.lstate; record(m, v, t_want)
            :: else -> skip
            fi;
            t_out = O_ok
        :: else -> t_out = O_ok
        fi
    :: t_req == Q_TASK_ADMIT ->
        if
        :: t_fault != F_NONE -> t_out = O_indefinite /* the task could not be read */
        :: content[v] == C_REJECT -> t_out = O_reject
        :: else -> t_out = O_ok
        fi
    :: t_req == Q_GET_MANIFEST && !t_call -> t_out = O_ours
    :: t_req == Q_GET_MANIFEST && t_call ->
        if
        :: man[v] == 0 ->
            if
            :: A.row == R_sweep_manifest && A.kicked -> answer(O_refused) /* a kick needs a manifest */
            :: else -> answer(O_absent)
            fi
        :: else ->
            answer(O_ok);
            if
            :: t_fault == F_NONE ->
                A.loaded = 1; A.lstate = man[v] - 1; A.letag = metag[v];
                if
                :: A.row == R_park_manifest_look ->
                    t_out = (A.lstate == A.verdict -> O_ours : O_conflict)
                :: A.row == R_sweep_manifest ->
                    A.srcq = 1;
                    /* as S3 shows it: promoted and purged are recorded from the state before them */
                    if
                    :: A.lstate == A_promoted -> A.st = A_promoting
                    :: A.lstate == A_purged -> A.st = mprev[v]
                    :: else -> A.st = A.lstate
                    fi;
                    /* swept(): a waiting outcome the audit log lacks is recorded (the ledger
                     * is exact here: the whole log is its window) */
                    t_ok = !LOGGED(m, v, A.lstate);
                    if
                    :: A.lstate == A_approved || A.lstate == A_promoting -> t_out = O_decided
                    :: A.lstate == A_promoted -> t_out = O_ours
                    :: A.lstate == A_quarantined -> t_out = O_retried
                    :: A.lstate == A_in_review && aged -> t_out = O_review_ttl_over
                    :: A.lstate == A_in_review && !aged -> t_out = (t_ok -> O_unrecorded : O_waiting)
                    :: A.lstate == A_purged -> t_out = O_retention_over
                    :: A.lstate == A_blocked || A.lstate == A_rejected || A.lstate == A_expired ->
                        if
                        :: aged -> t_out = O_retention_over
                        :: else -> mv[m].settled[v] = 1; t_out = (t_ok -> O_unrecorded : O_waiting)
                        fi
                    :: else -> mv[m].settled[v] = 1; t_out = (t_ok -> O_unrecorded : O_waiting)
                    fi
                :: else -> t_out = O_ours
                fi
            :: else -> skip
            fi
        fi
    :: t_req == Q_HEAD_TRUSTED ->
        if
        :: trusted == 0 -> answer(O_absent)
        :: trusted == v -> answer(O_ours)
        :: else -> answer(O_conflict)
        fi;
        /* row_look_trusted: "free" stands for promote_head unless another artifact of this
         * mover held the key for its promotion when the HEAD was sent */
        A.tfree = (t_out == O_absent && (mv[m].holder == 0 || mv[m].holder == v))
    :: t_req == Q_COPY_TO_QUARANTINE ->
        /* the listed version (by version id, or If-Match its ETag) to its quarantine key */
#if VERSIONED
        if
        :: stg[v] -> if :: t_eff -> q[v] = 1 :: else -> skip fi; answer(O_ok)
        :: else -> answer(O_absent)
        fi;
#else
        if
        :: cur == v -> if :: t_eff -> q[v] = 1 :: else -> skip fi; answer(O_ok)
        :: cur == 0 -> answer(O_absent)
        :: else -> answer(O_conflict)
        fi;
#endif
        if
        :: t_out == O_ok && t_fault == F_NONE && A.row == R_quarantine_copy -> A.srcq = 1
        :: else -> skip
        fi
    :: t_req == Q_HEAD_QUARANTINE ->
        if
        :: q[v] -> answer(O_ok); if :: t_fault == F_NONE && A.row == R_quarantine_look -> A.srcq = 1 :: else -> skip fi
        :: else -> answer(O_absent)
        fi
    :: t_req == Q_DELETE_STAGING -> delete_staging()
    :: t_req == Q_GET_SOURCE ->
        if
        :: SOURCE_THERE -> answer(O_ok); A.read = (t_out == O_ok)
        :: else -> answer(O_absent)
        fi
    :: t_req == Q_COPY_TO_TRUSTED ->
        /* trusted_key_written: a copy to the key voids every earlier look at it */
        mv[m].s[1].tfree = 0; mv[m].s[2].tfree = 0;
        if
        :: !SOURCE_THERE -> answer(O_absent)
        :: COPY_INM && trusted != 0 -> answer(O_conflict)
        :: else ->
            if
            :: t_eff ->
                /* only checked bytes, and never over another artifact's object */
                assert(content[v] == C_GOOD && gate_ok[v] || only_checked_bytes_promoted);
                overwrote = overwrote || (trusted != 0 && trusted != v);
                trusted = v
            :: else -> skip
            fi;
            answer(O_ok)
        fi
    :: t_req == Q_DELETE_SOURCE ->
        if
        :: A.srcq ->
            if
            :: q[v] -> if :: t_eff -> q[v] = 0 :: else -> skip fi; answer(O_ok)
            :: else -> absent_delete()
            fi;
            A.leftover = !(t_out == O_ok || t_out == O_absent || t_out == O_conflict)
        :: else -> delete_staging()
        fi
    :: t_req == Q_PUT_MANIFEST ->
        if
        :: A.row == R_park_manifest ->
            /* the commit point: If-None-Match (new), or If-Match the ETag it was read with */
            if
            :: !A.loaded && man[v] == 0 || A.loaded && metag[v] == A.letag ->
                if :: t_eff -> t_want = A.verdict; write_manifest(v, t_want) :: else -> skip fi;
                answer(O_ok);
                if :: t_fault == F_NONE -> A.letag = metag[v] :: else -> skip fi
            :: else -> answer(O_conflict)
            fi
        :: else ->
            /* promoted_manifest, expire, purge_manifest: the loaded manifest, If-Match */
            assert(A.loaded);
            if
            :: metag[v] == A.letag ->
                if
                :: A.row == R_expire -> t_want = A_expired
                :: A.row == R_purge_manifest -> t_want = A_purged
                :: else -> t_want = A_promoted
                fi;
                if :: t_eff -> write_manifest(v, t_want) :: else -> skip fi;
                answer(O_ok);
                if
                :: t_fault == F_NONE ->
                    A.letag = metag[v];
                    if
                    :: A.row == R_expire && t_want != A.st ->
                        /* manifest_updated: the record follows its commit point (purge_record
                         * records purged) */
                        t_from = A.st;
                        transition_allowed(t_from, t_want, t_ok);
                        if
                        :: t_ok -> record(m, v, t_want); A.st = t_want
                        :: else -> t_end = 1 /* record_move refuses: artifact_end(LEAVE) */
                        fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi
            :: else -> answer(O_conflict)
            fi
        fi
    :: t_req == Q_DELETE_QUARANTINE ->
        if
        :: q[v] -> if :: t_eff -> q[v] = 0 :: else -> skip fi; answer(O_ok)
        :: else -> absent_delete()
        fi;
        if
        :: t_out == O_ok || t_out == O_absent -> mv[m].settled[v] = 0
        :: else -> skip
        fi
    fi
}

/* executor_advance: the table's entry for (row, outcome); a retry, or the exhausted entry
 * when the budget ran out */
inline advance() {
    t_retry = 0;
    do
    :: protocol_next(t_row, t_out, t_nxt, t_verd);
       cover(t_row, t_out);
       if
       :: t_verd != V_NONE -> A.verdict = t_verd
       :: else -> skip
       fi;
       if
       :: t_nxt == R_RETRY && t_exh -> t_exh = 0; exhausts--; t_out = O_exhausted
       :: else -> break
       fi
    od;
    if
    :: t_nxt == R_RETRY -> t_retry = 1 /* the same row again, after a backoff */
    :: t_nxt == R_DONE || t_nxt == R_LEAVE || t_nxt == R_DROP -> finish(m, v)
    :: else -> A.row = t_nxt
    fi
}

/* executor_run from the artifact's current row: its request (with the fault chosen), then
 * every row the executor runs before the next request */
inline run_slot() {
    t_sent = 0;
    do
    :: t_row = A.row;
#if PROMOTE_LOCK
       /* executor_run takes the trusted key before the skip condition is looked at */
       if
       :: PROMOTE_ROW(t_row) && mv[m].holder != 0 && mv[m].holder != v -> break /* waits for the key */
       :: PROMOTE_ROW(t_row) -> mv[m].holder = v
       :: else -> skip
       fi;
#endif
       row_info(t_row, t_req, t_skip, t_st);
       t_end = 0; t_crash = 0;
       skip_holds();
       if
       :: t_ok ->
           if
           :: t_skip == S_RECORDED && t_st >= 0 -> A.st = t_st /* recorded before */
           :: else -> skip
           fi;
           t_out = O_skipped
       :: else ->
           t_call = CALLS;
           if
           :: t_call && t_sent -> break /* its request goes out in a later step */
           :: else -> skip
           fi;
           enter_state();
           if
           :: !t_ok -> t_end = 1
           :: else -> run_request(); t_sent = t_sent || t_call
           fi
       fi;
       if
       :: t_crash ->
           printf("TRACE mover %d v%d row %d fault %d: CRASH after the request took effect\n", m, v, t_row, t_fault);
           crash(m); break
       :: !t_crash && t_end ->
           printf("TRACE mover %d v%d row %d: LEAVE (record_move refused %d -> %d)\n", m, v, t_row, t_from, t_want);
           finish(m, v); break
       :: else ->
           t_st = A.st; t_want = A.verdict;
           advance();
           printf("TRACE mover %d v%d row %d fault %d outcome %d -> %d (state %d verdict %d)\n", m, v, t_row,
                  (t_sent && t_call -> t_fault : 0), t_out, t_nxt, t_st, (t_verd != V_NONE -> t_verd : t_want));
           if
           :: t_retry || !A.busy -> break
           :: else -> skip
           fi
       fi
    od;
#if PROMOTE_LOCK
    if
    :: mv[m].holder == v && !(A.busy && PROMOTE_ROW(A.row)) -> mv[m].holder = 0
    :: else -> skip
    fi;
#endif
    skip
}

/* what the current row's request is, and which faults it can meet */
inline prepare() {
    t_row = A.row;
    row_info(t_row, t_req, t_skip, t_st);
    t_mut = MUTATION(t_req);
    t_absent = (t_req == Q_DELETE_QUARANTINE && !q[v] ||
                t_req == Q_DELETE_SOURCE && A.srcq && !q[v] ||
                VERSIONED && (t_req == Q_DELETE_STAGING || t_req == Q_DELETE_SOURCE && !A.srcq) && !stg[v])
}

inline choose_fault() {
    t_fault = F_NONE;
    if
    :: true
    :: !calm && faults > 0 -> faults--; t_fault = F_BEFORE
    :: !calm && faults > 0 && t_mut -> faults--; t_fault = F_AFTER
    :: !calm && faults > 0 && t_req != Q_TASK_ADMIT -> faults--; t_fault = F_REFUSED
    :: !calm && crashes > 0 && t_mut -> crashes--; t_fault = F_CRASH_AFTER
    fi;
    t_exh = 0;
    if
    :: (t_fault == F_BEFORE || t_fault == F_AFTER) && exhausts > 0 -> if :: t_exh = 1 :: skip fi
    :: else -> skip
    fi;
    t_204 = 0;
    if
    :: t_absent -> if :: t_204 = 1 :: skip fi
    :: else -> skip
    fi
}

/* ---- the properties that hold in every state ---- */

/* an upload is lost when its bytes are nowhere and no manifest accounts for it */
#define LOST(v) (v <= uploaded && !by_writer[v] && !IN_STAGING(v) && !q[v] && trusted != v && \
                 !(man[v] != 0 && (GONE_OK_MASK & BIT(man[v] - 1)) != 0))
#define INV (!table_gap && !overwrote && !LOST(1) && !LOST(2) && \
             (trusted == 0 || content[trusted] == C_GOOD && gate_ok[trusted]) && \
             (trusted == 0 || man[trusted] == 0 || (GONE_OK_MASK & BIT(man[trusted] - 1)) == 0))

active proctype monitor() {
end:
    atomic { !INV -> assert(!table_gap || table_has_every_entry); assert(!overwrote || trusted_never_overwritten);
                     assert(!LOST(1) && !LOST(2) || no_upload_lost); assert(INV || promoted_never_contradicted) }
}

/* ---- the movers ---- */

#if PROMOTE_LOCK
#define MAY_RUN(vv) (mv[m].s[vv].busy && (mv[m].holder == 0 || mv[m].holder == vv || !PROMOTE_ROW(mv[m].s[vv].row)))
#else
#define MAY_RUN(vv) mv[m].s[vv].busy
#endif

proctype mover(byte m) {
    byte v;
end:
    do
    :: atomic {
        (MAY_RUN(1) || MAY_RUN(2)) ->
        if
        :: MAY_RUN(1) -> v = 1
        :: MAY_RUN(2) -> v = 2
        fi;
#if PROMOTE_LOCK
        if :: PROMOTE_ROW(A.row) -> mv[m].holder = v :: else -> skip fi;
#endif
        d_step { prepare() };
        choose_fault();
        d_step { run_slot() };
        v = 0
       }
    :: atomic { !mv[m].polling && (!calm && POLL_USEFUL(m) || calm && mv[m].polls < ROUNDS && IDLE(m)) ->
                if :: calm -> mv[m].polls++ :: else -> skip fi;
                poll_send(m); printf("TRACE mover %d staging listing sent\n", m) }
    :: atomic { mv[m].polling ->
                printf("TRACE mover %d staging listing answered (it showed v1 %d v2 %d)\n", m, mv[m].poll_saw[1], mv[m].poll_saw[2]);
                poll_answer(m) }
    :: atomic { !mv[m].sweeping && (!calm && SWEEP_USEFUL(m) || calm && mv[m].sweeps < ROUNDS && IDLE(m)) ->
                if :: calm -> mv[m].sweeps++ :: else -> skip fi;
                sweep_send(m); printf("TRACE mover %d quarantine listing sent\n", m) }
    :: atomic { mv[m].sweeping ->
                printf("TRACE mover %d quarantine listing answered (it showed v1 %d v2 %d)\n", m, mv[m].sweep_saw[1], mv[m].sweep_saw[2]);
                sweep_answer(m) }
    :: atomic { !calm && crashes > 0 -> crashes--; crash(m); printf("TRACE mover %d CRASH\n", m) }
    od
}

/* ---- the world: uploads, a reviewer, an operator, time ---- */

inline upload() {
    uploaded++;
    if
    :: content[uploaded] = C_GOOD
    :: content[uploaded] = C_BAD
    :: REJECTS -> content[uploaded] = C_REJECT
    fi;
#if VERSIONED
    stg[uploaded] = 1
#else
    if
    :: cur != 0 -> by_writer[cur] = 1 /* the writer replaced its own upload */
    :: else -> skip
    fi;
    cur = uploaded
#endif
}

active proctype world() {
    byte v;
end:
    do
    :: atomic { !calm && uploaded < UPLOADS -> upload(); printf("TRACE upload v%d content %d\n", uploaded, content[uploaded]) }
#if HUMAN
    /* a reviewer's decision (decide.c): If-Match on the manifest, recorded by mover 0 */
    :: atomic { !calm && (man[1] == A_in_review + 1 || man[2] == A_in_review + 1) ->
        if
        :: man[1] == A_in_review + 1 -> v = 1
        :: man[2] == A_in_review + 1 -> v = 2
        fi;
        if
        :: write_manifest(v, A_approved); record(0, v, A_approved); kick(0, v);
           printf("TRACE decision: a reviewer approves v%d\n", v)
        :: write_manifest(v, A_rejected); record(0, v, A_rejected);
           printf("TRACE decision: a reviewer rejects v%d\n", v)
        fi;
        v = 0 }
    /* an operator retries a failed artifact: failed -> quarantined, then the sweep checks it */
    :: atomic { !calm && op_retries > 0 && (man[1] == A_failed + 1 || man[2] == A_failed + 1) ->
        op_retries--;
        if
        :: man[1] == A_failed + 1 -> v = 1
        :: man[2] == A_failed + 1 -> v = 2
        fi;
        write_manifest(v, A_quarantined); record(0, v, A_quarantined); kick(0, v);
        printf("TRACE operator: retry v%d\n", v);
        v = 0 }
#endif
    :: atomic { AGED && !calm && !aged -> aged = 1; printf("TRACE review_ttl and retention are over\n") }
    /* the world calms down: what is left of the fault budgets no longer matters */
    :: atomic { !calm -> calm = 1; faults = 0; crashes = 0; exhausts = 0; op_retries = 0; printf("TRACE calm\n") }
    od
}

/* ---- the end: every version settled, cleaned up, and its outcome in the audit log ---- */

#if MOVERS == 1
#define RECORDED(v, s) LOGGED(0, v, s)
#else
#define RECORDED(v, s) (LOGGED(0, v, s) || LOGGED(1, v, s))
#endif

inline settled(v) {
    if
    :: v > uploaded -> skip
    :: trusted == v ->
        assert(!STRICT_AUDIT || RECORDED(v, A_promoted) || audit_complete);  /* its outcome is in the audit log */
        assert(!IN_STAGING(v) || settled_and_clean);                         /* nothing left in staging */
        assert(!STRICT_PLACE || !q[v] && (man[v] == 0 || man[v] - 1 == A_promoted || man[v] - 1 == A_approved ||
               man[v] - 1 == A_promoting) || in_one_place)                    /* and in no other place */
    :: trusted != v && man[v] != 0 ->
        assert((SETTLED_MASK & BIT(man[v] - 1)) != 0 || settled_and_clean);   /* a final or waiting state */
        assert(!STRICT_AUDIT || RECORDED(v, man[v] - 1) || audit_complete); /* its outcome is in the audit log */
        assert(!IN_STAGING(v) || settled_and_clean);
        assert(q[v] || (GONE_OK_MASK & BIT(man[v] - 1)) != 0 || settled_and_clean); /* bytes kept while it waits */
        assert(!STRICT_PLACE || !q[v] || man[v] - 1 != A_purged || in_one_place) /* a purge finishes */
    :: else ->
        assert(by_writer[v] && !q[v] && !IN_STAGING(v) || settled_and_clean) /* replaced by its writer unseen */
    fi
}

active proctype checker() {
    atomic {
        DONE ->
        printf("TRACE the end: checking every version\n");
        settled(1);
        settled(2)
    }
}

init {
    byte i = 0;
    atomic {
        do
        :: i < MOVERS -> run mover(i); i++
        :: else -> break
        od
    }
}

/* progress: once the world is calm, every mover finishes its rounds and stops */
ltl settles { [] (calm -> <> DONE) }

/*
 * test_artifact.c — unit tests of mover/state/artifact: state names, the transitions
 * table against an independent list written from DESIGN.md, terminal states, the
 * generated Mermaid diagram, artifact ids, and the staging and quarantine key layouts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "state/artifact.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

/* The lifecycle as DESIGN.md ("Artifact lifecycle and where state lives") draws it,
 * written out here by hand and independently of SL_ARTIFACT_TRANSITIONS, with the audit
 * event each is recorded as. The table must allow exactly these and nothing else. */
static const struct {
    const char *from, *to, *event;
} design[] = {
    { "staged", "quarantined", "quarantine" },
    { "quarantined", "checking", "check" },
    { "checking", "blocked", "block" },       /* a check failed, fail closed */
    { "checking", "in_review", "review" },
    { "in_review", "approved", "approve" },
    { "in_review", "rejected", "reject" },
    { "in_review", "expired", "expire" },
    { "checking", "approved", "approve" },    /* route policy auto, all checks passed */
    { "staged", "rejected", "reject" },       /* closed or unknown task, task limits, layout */
    { "staged", "checking", "check" },        /* checked in place on versioned staging */
    { "approved", "promoting", "promote" },
    { "promoting", "promoted", "promoted" },
    { "blocked", "purged", "purge" },         /* after retention */
    { "rejected", "purged", "purge" },
    { "expired", "purged", "purge" },
    { "staged", "failed", "fail" },           /* any non-terminal -> failed */
    { "quarantined", "failed", "fail" },
    { "checking", "failed", "fail" },
    { "in_review", "failed", "fail" },
    { "approved", "failed", "fail" },
    { "promoting", "failed", "fail" },
    /* Refinements artifact.h adds to DESIGN's sketch: key and metadata rules block
     * before the content checks start, an operator may retry a failed artifact, and a
     * re-check with new rules or signatures that finds a failure blocks one in review. */
    { "quarantined", "blocked", "block" },
    { "failed", "quarantined", "retry" },
    { "in_review", "blocked", "block" },
};
#define DESIGN_COUNT (sizeof(design) / sizeof(design[0]))

/* Every state, in the enum's order, and the terminal ones (DESIGN: the outcome is settled). */
static const char *const state_list[] = { "staged",   "quarantined", "checking", "blocked",
                                          "in_review", "approved",   "rejected", "expired",
                                          "promoting", "promoted",   "purged",   "failed" };
static const char *const terminal_list[] = { "blocked", "rejected", "expired", "promoted", "purged" };

static artifact_state state_named(const char *name)
{
    artifact_state s = ARTIFACT_STATE_COUNT;
    assert_true(artifact_state_from_name(sl_cursor_from_cstr(name), &s));
    return s;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* ---- states ---- */

static void state_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(ARTIFACT_STATE_COUNT, sizeof(state_list) / sizeof(state_list[0]));
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++) {
        assert_string_equal(artifact_state_name((artifact_state)s), state_list[s]);
        artifact_state back = ARTIFACT_STATE_COUNT;
        assert_true(artifact_state_from_name(sl_cursor_from_cstr(state_list[s]), &back));
        assert_int_equal(back, s);
    }
    const char *not_states[] = { "", "Staged", "staged ", " staged", "stage", "stagedx", "in-review", "promote" };
    for (size_t i = 0; i < sizeof(not_states) / sizeof(not_states[0]); i++) {
        artifact_state out = ARTIFACT_PURGED;
        assert_false(artifact_state_from_name(sl_cursor_from_cstr(not_states[i]), &out));
        assert_int_equal(out, ARTIFACT_PURGED); /* unchanged */
    }
    /* a name with a NUL inside is not the name before it */
    artifact_state out = ARTIFACT_PURGED;
    assert_false(artifact_state_from_name(sl_cursor_from_bytes("staged\0", 7), &out));
    assert_string_equal(artifact_state_name(ARTIFACT_STATE_COUNT), "(invalid state)");
    assert_string_equal(artifact_state_name((artifact_state)-1), "(invalid state)");
}

static void terminal_states_are_the_settled_ones(void **state)
{
    (void)state;
    size_t n_terminal = sizeof(terminal_list) / sizeof(terminal_list[0]);
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++)
        assert_int_equal(artifact_state_is_terminal((artifact_state)s),
                         in_list(terminal_list, n_terminal, state_list[s]));
    assert_false(artifact_state_is_terminal(ARTIFACT_STATE_COUNT));
    /* From a terminal state the only move is to purged; promoted and purged have none. */
    for (int from = 0; from < ARTIFACT_STATE_COUNT; from++) {
        if (!artifact_state_is_terminal((artifact_state)from)) continue;
        for (int to = 0; to < ARTIFACT_STATE_COUNT; to++)
            if (artifact_transition_allowed((artifact_state)from, (artifact_state)to, NULL))
                assert_int_equal(to, ARTIFACT_PURGED);
    }
    for (int to = 0; to < ARTIFACT_STATE_COUNT; to++) {
        assert_false(artifact_transition_allowed(ARTIFACT_PROMOTED, (artifact_state)to, NULL));
        assert_false(artifact_transition_allowed(ARTIFACT_PURGED, (artifact_state)to, NULL));
    }
    /* Every non-terminal state can fail, and a failed one can be retried. */
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++)
        if (!artifact_state_is_terminal((artifact_state)s) && s != ARTIFACT_FAILED)
            assert_true(artifact_transition_allowed((artifact_state)s, ARTIFACT_FAILED, NULL));
    assert_false(artifact_state_is_terminal(ARTIFACT_FAILED));
    assert_true(artifact_transition_allowed(ARTIFACT_FAILED, ARTIFACT_QUARANTINED, NULL));
}

/* ---- the table ---- */

static void table_allows_exactly_the_design(void **state)
{
    (void)state;
    bool expected[ARTIFACT_STATE_COUNT][ARTIFACT_STATE_COUNT] = { { false } };
    const char *expected_event[ARTIFACT_STATE_COUNT][ARTIFACT_STATE_COUNT] = { { NULL } };
    for (size_t i = 0; i < DESIGN_COUNT; i++) {
        artifact_state from = state_named(design[i].from), to = state_named(design[i].to);
        assert_false(expected[from][to]); /* the list itself has no duplicates */
        expected[from][to] = true;
        expected_event[from][to] = design[i].event;
    }
    size_t allowed = 0;
    for (int from = 0; from < ARTIFACT_STATE_COUNT; from++) {
        for (int to = 0; to < ARTIFACT_STATE_COUNT; to++) {
            const char *event = "untouched";
            bool ok = artifact_transition_allowed((artifact_state)from, (artifact_state)to, &event);
            if (ok != expected[from][to])
                fail_msg("%s -> %s: the table says %s, DESIGN says %s", state_list[from], state_list[to],
                         ok ? "allowed" : "refused", expected[from][to] ? "allowed" : "refused");
            if (ok) {
                allowed++;
                assert_string_equal(event, expected_event[from][to]);
                assert_true(artifact_transition_allowed((artifact_state)from, (artifact_state)to, NULL));
            } else {
                assert_string_equal(event, "untouched");
            }
        }
    }
    assert_int_equal(allowed, DESIGN_COUNT);
    /* values outside the enum are never allowed */
    assert_false(artifact_transition_allowed(ARTIFACT_STATE_COUNT, ARTIFACT_STAGED, NULL));
    assert_false(artifact_transition_allowed(ARTIFACT_STAGED, ARTIFACT_STATE_COUNT, NULL));
    assert_false(artifact_transition_allowed((artifact_state)-1, ARTIFACT_FAILED, NULL));
}

static void table_rows_are_listed_with_reasons(void **state)
{
    (void)state;
    size_t count = 0;
    const artifact_transition_info *rows = artifact_transitions(&count);
    assert_int_equal(count, DESIGN_COUNT);
    for (size_t i = 0; i < count; i++) {
        const char *event = NULL;
        assert_true(artifact_transition_allowed(rows[i].from, rows[i].to, &event));
        assert_string_equal(event, rows[i].event);
        assert_non_null(rows[i].why);
        assert_true(strlen(rows[i].why) > 0);
        for (size_t j = 0; j < i; j++) assert_false(rows[j].from == rows[i].from && rows[j].to == rows[i].to);
    }
}

static void every_state_is_reachable_from_staged(void **state)
{
    (void)state;
    bool seen[ARTIFACT_STATE_COUNT] = { false };
    seen[ARTIFACT_STAGED] = true;
    for (bool grew = true; grew;) {
        grew = false;
        for (int from = 0; from < ARTIFACT_STATE_COUNT; from++)
            for (int to = 0; to < ARTIFACT_STATE_COUNT; to++)
                if (seen[from] && !seen[to] &&
                    artifact_transition_allowed((artifact_state)from, (artifact_state)to, NULL))
                    seen[to] = grew = true;
    }
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++) assert_true(seen[s]);
}

static void mermaid_is_generated_from_the_table(void **state)
{
    (void)state;
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "before\n")));
    assert_true(sl_ok(artifact_states_mermaid(&out)));
    const char *text = sl_buf_cstr(&out);
    assert_true(strncmp(text, "before\nstateDiagram-v2\n    [*] --> staged\n", 42) == 0);

    size_t n_terminal = sizeof(terminal_list) / sizeof(terminal_list[0]);
    size_t n_expected = DESIGN_COUNT + n_terminal;
    char expected[64][96];
    bool used[64] = { false };
    assert_true(n_expected <= 64);
    for (size_t i = 0; i < DESIGN_COUNT; i++)
        snprintf(expected[i], sizeof(expected[i]), "    %s --> %s : %s", design[i].from, design[i].to,
                 design[i].event);
    for (size_t i = 0; i < n_terminal; i++)
        snprintf(expected[DESIGN_COUNT + i], sizeof(expected[0]), "    %s --> [*]", terminal_list[i]);

    sl_cursor rest = sl_cursor_from_cstr(text + 42), line;
    size_t lines = 0;
    while (rest.len > 0 && sl_cursor_next_token(&rest, '\n', &line)) {
        bool matched = false;
        for (size_t i = 0; i < n_expected && !matched; i++) {
            if (!used[i] && sl_cursor_eq_cstr(line, expected[i])) used[i] = matched = true;
        }
        if (!matched) fail_msg("unexpected line in the diagram: %.*s", (int)line.len, (const char *)line.ptr);
        lines++;
    }
    assert_int_equal(lines, n_expected);
    assert_int_equal(text[out.len - 1], '\n');
    sl_buf_clean_up(&out);
}

/* ---- ids ---- */

static void id_matches_an_independent_sha256(void **state)
{
    (void)state;
    char id[SL_ARTIFACT_ID_LEN + 1];
    /* python3 -c "import hashlib;print(hashlib.sha256(b'key\x00etag').hexdigest()[:32])" */
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("key"), sl_cursor_from_cstr("etag"), id)));
    assert_string_equal(id, "6772ae60f60816bbbf37faa58d88eb4b");
    /* python3 -c "import hashlib;print(hashlib.sha256(
     *   b'reports/t-1/out.csv\x00d41d8cd98f00b204e9800998ecf8427e').hexdigest()[:32])" */
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("reports/t-1/out.csv"),
                                         sl_cursor_from_cstr("\"d41d8cd98f00b204e9800998ecf8427e\""), id)));
    assert_string_equal(id, "e90bb90af3ab0f4e7234316b3cf4e7c9");
    assert_true(sl_ok(artifact_id_check(sl_cursor_from_cstr(id))));
}

static void id_ignores_quotes_and_separates_inputs(void **state)
{
    (void)state;
    char quoted[SL_ARTIFACT_ID_LEN + 1], bare[SL_ARTIFACT_ID_LEN + 1], other[SL_ARTIFACT_ID_LEN + 1];
    sl_cursor key = sl_cursor_from_cstr("reports/t-1/out.csv");
    assert_true(sl_ok(artifact_id_derive(key, sl_cursor_from_cstr("\"abc-2\""), quoted)));
    assert_true(sl_ok(artifact_id_derive(key, sl_cursor_from_cstr("abc-2"), bare)));
    assert_string_equal(quoted, bare);
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("reports/t-1/out.csv2"),
                                         sl_cursor_from_cstr("abc-2"), other)));
    assert_string_not_equal(other, bare); /* another key */
    assert_true(sl_ok(artifact_id_derive(key, sl_cursor_from_cstr("abc-3"), other)));
    assert_string_not_equal(other, bare); /* another ETag */
    /* moving a byte across the separator changes the id */
    char a[SL_ARTIFACT_ID_LEN + 1], b[SL_ARTIFACT_ID_LEN + 1];
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("ab"), sl_cursor_from_cstr("c"), a)));
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("a"), sl_cursor_from_cstr("bc"), b)));
    assert_string_not_equal(a, b);
}

static void id_refuses_bad_inputs_and_leaves_output(void **state)
{
    (void)state;
    struct {
        sl_cursor key, etag;
        const char *detail;
    } bad[] = {
        { { (const uint8_t *)"", 0 }, { (const uint8_t *)"abc", 3 }, "staging key is empty" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"", 0 }, "ETag is empty" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"\"\"", 2 }, "ETag is empty" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"\"", 1 }, "byte 0x22 at offset 0" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"\"abc", 4 }, "byte 0x22 at offset 0" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"a\"b", 3 }, "byte 0x22 at offset 1" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"W/\"abc\"", 7 }, "byte 0x22 at offset 2" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"a\0b", 3 }, "byte 0x00 at offset 1" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"a b", 3 }, "byte 0x20 at offset 1" },
        { { (const uint8_t *)"k", 1 }, { (const uint8_t *)"ab\n", 3 }, "byte 0x0a at offset 2" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char id[SL_ARTIFACT_ID_LEN + 1] = "unchanged";
        sl_error_clear();
        assert_true(sl_failed(artifact_id_derive(bad[i].key, bad[i].etag, id)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        if (strstr(sl_error_detail(), bad[i].detail) == NULL)
            fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, sl_error_detail(), bad[i].detail);
        assert_string_equal(id, "unchanged");
    }
}

/* ---- key parts ---- */

static void expect_invalid(sl_result r, const char *detail)
{
    assert_true(sl_failed(r));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    if (strstr(sl_error_detail(), detail) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", sl_error_detail(), detail);
}

static void key_part_rules(void **state)
{
    (void)state;
    char long_task[SL_ARTIFACT_TASK_MAX + 2], long_route[SL_ARTIFACT_ROUTE_MAX + 2];
    memset(long_task, 'a', sizeof(long_task) - 1);
    long_task[sizeof(long_task) - 1] = '\0';
    memset(long_route, 'r', sizeof(long_route) - 1);
    long_route[sizeof(long_route) - 1] = '\0';

    assert_true(sl_ok(artifact_task_id_check(sl_cursor_from_cstr("aZ09_-"))));
    assert_true(sl_ok(artifact_task_id_check(sl_cursor_from_bytes(long_task, SL_ARTIFACT_TASK_MAX))));
    expect_invalid(artifact_task_id_check(sl_cursor_from_cstr(long_task)), "longer than 128");
    expect_invalid(artifact_task_id_check(sl_cursor_from_cstr("")), "task id is empty");
    expect_invalid(artifact_task_id_check(sl_cursor_from_cstr("a/b")), "byte 0x2f at offset 1");
    expect_invalid(artifact_task_id_check(sl_cursor_from_cstr("a.b")), "byte 0x2e at offset 1");
    expect_invalid(artifact_task_id_check(sl_cursor_from_cstr("\xc3\xa4")), "byte 0xc3 at offset 0");

    assert_true(sl_ok(artifact_route_name_check(sl_cursor_from_cstr("reports"))));
    assert_true(sl_ok(artifact_route_name_check(sl_cursor_from_cstr("0-a_b"))));
    assert_true(sl_ok(artifact_route_name_check(sl_cursor_from_bytes(long_route, SL_ARTIFACT_ROUTE_MAX))));
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr(long_route)), "longer than 64");
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr("")), "route name is empty");
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr("-a")), "must start with a-z or 0-9");
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr("_a")), "must start with a-z or 0-9");
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr("Reports")), "must start with a-z or 0-9");
    expect_invalid(artifact_route_name_check(sl_cursor_from_cstr("rePorts")), "byte 0x50 at offset 2");

    assert_true(sl_ok(artifact_id_check(sl_cursor_from_cstr("0123456789abcdef0123456789abcdef"))));
    expect_invalid(artifact_id_check(sl_cursor_from_cstr("0123456789abcdef0123456789abcde")), "is 31 bytes");
    expect_invalid(artifact_id_check(sl_cursor_from_cstr("0123456789abcdef0123456789abcdef0")), "is 33 bytes");
    expect_invalid(artifact_id_check(sl_cursor_from_cstr("0123456789ABCDEF0123456789abcdef")),
                   "byte 0x41 at offset 10");
    expect_invalid(artifact_id_check(sl_cursor_from_cstr("0123456789abcdeg0123456789abcdef")),
                   "byte 0x67 at offset 15");
}

static void staging_key_splits_good_keys(void **state)
{
    (void)state;
    staging_key_parts parts;
    const char *key = "reports/task_1-A/out.csv";
    assert_true(sl_ok(staging_key_split(sl_cursor_from_cstr(key), sl_cursor_from_cstr("reports/"), &parts)));
    assert_true(sl_cursor_eq_cstr(parts.task, "task_1-A"));
    assert_true(sl_cursor_eq_cstr(parts.name, "out.csv"));
    assert_ptr_equal(parts.task.ptr, (const uint8_t *)key + 8); /* points into the key */

    assert_true(sl_ok(staging_key_split(sl_cursor_from_cstr("a/b/t/dir/sub/x.txt"), sl_cursor_from_cstr("a/b/"),
                                        &parts)));
    assert_true(sl_cursor_eq_cstr(parts.task, "t"));
    assert_true(sl_cursor_eq_cstr(parts.name, "dir/sub/x.txt"));

    assert_true(sl_ok(staging_key_split(sl_cursor_from_cstr("t/x"), sl_cursor_from_cstr(""), &parts)));
    assert_true(sl_cursor_eq_cstr(parts.task, "t"));
    assert_true(sl_cursor_eq_cstr(parts.name, "x"));

    char long_key[8 + SL_ARTIFACT_TASK_MAX + 3] = "reports/";
    memset(long_key + 8, 'T', SL_ARTIFACT_TASK_MAX);
    memcpy(long_key + 8 + SL_ARTIFACT_TASK_MAX, "/n", 3);
    assert_true(sl_ok(staging_key_split(sl_cursor_from_cstr(long_key), sl_cursor_from_cstr("reports/"), &parts)));
    assert_int_equal(parts.task.len, SL_ARTIFACT_TASK_MAX);
}

static void staging_key_refuses_bad_keys(void **state)
{
    (void)state;
    struct {
        const char *key, *detail;
    } bad[] = {
        { "metrics/t/x", "not under the route's staging prefix" },
        { "report", "not under the route's staging prefix" },
        { "reports/", "no task segment" },
        { "reports/t", "no task segment" },
        { "reports//x", "task id is empty" },
        { "reports/t/", "empty name" },
        { "reports/t.x/y", "byte 0x2e at offset 1" },
        { "reports/t x/y", "byte 0x20 at offset 1" },
        { "reports/t\xc3\xa4/y", "byte 0xc3 at offset 1" },
        { "reports/../y", "byte 0x2e at offset 0" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        staging_key_parts parts = { .task = { (const uint8_t *)"keep", 4 }, .name = { (const uint8_t *)"me", 2 } };
        sl_error_clear();
        expect_invalid(staging_key_split(sl_cursor_from_cstr(bad[i].key), sl_cursor_from_cstr("reports/"), &parts),
                       bad[i].detail);
        assert_true(sl_cursor_eq_cstr(parts.task, "keep"));
        assert_true(sl_cursor_eq_cstr(parts.name, "me"));
    }
    char long_key[8 + SL_ARTIFACT_TASK_MAX + 1 + 3] = "reports/";
    memset(long_key + 8, 'T', SL_ARTIFACT_TASK_MAX + 1);
    memcpy(long_key + 8 + SL_ARTIFACT_TASK_MAX + 1, "/n", 3);
    staging_key_parts parts;
    expect_invalid(staging_key_split(sl_cursor_from_cstr(long_key), sl_cursor_from_cstr("reports/"), &parts),
                   "129 bytes, longer than 128");
}

#define ID "0123456789abcdef0123456789abcdef"

static void quarantine_key_builds_and_parses_back(void **state)
{
    (void)state;
    sl_buf key = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&key, ">")));
    assert_true(sl_ok(quarantine_key_build(&key, sl_cursor_from_cstr("reports"), sl_cursor_from_cstr("t-1"),
                                           sl_cursor_from_cstr(ID), sl_cursor_from_cstr("dir/out \"x\".csv"))));
    assert_string_equal(sl_buf_cstr(&key), ">q/reports/t-1/" ID "/dir/out \"x\".csv");

    quarantine_key_parts parts;
    sl_cursor text = sl_cursor_from_buf(&key);
    assert_true(sl_cursor_advance(&text, 1));
    assert_true(sl_ok(quarantine_key_parse(text, &parts)));
    assert_true(sl_cursor_eq_cstr(parts.route, "reports"));
    assert_true(sl_cursor_eq_cstr(parts.task, "t-1"));
    assert_true(sl_cursor_eq_cstr(parts.artifact_id, ID));
    assert_true(sl_cursor_eq_cstr(parts.name, "dir/out \"x\".csv"));

    /* and a parsed key builds back to itself */
    sl_buf again = { 0 };
    assert_true(sl_ok(quarantine_key_build(&again, parts.route, parts.task, parts.artifact_id, parts.name)));
    assert_true(sl_cursor_eq(sl_cursor_from_buf(&again), text));
    sl_buf_clean_up(&again);
    sl_buf_clean_up(&key);
}

static void quarantine_key_build_refuses_bad_parts(void **state)
{
    (void)state;
    struct {
        const char *route, *task, *id, *name, *detail;
    } bad[] = {
        { "Reports", "t", ID, "n", "must start with a-z or 0-9" },
        { "", "t", ID, "n", "route name is empty" },
        { "r/x", "t", ID, "n", "byte 0x2f at offset 1" },
        { "r", "", ID, "n", "task id is empty" },
        { "r", "a/b", ID, "n", "byte 0x2f at offset 1" },
        { "r", "t", "0123456789ABCDEF0123456789abcdef", "n", "lower-case hex" },
        { "r", "t", "0123", "n", "is 4 bytes" },
        { "r", "t", ID, "", "the name is empty" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_buf key = { 0 };
        assert_true(sl_ok(sl_buf_append_cstr(&key, "keep")));
        sl_error_clear();
        expect_invalid(quarantine_key_build(&key, sl_cursor_from_cstr(bad[i].route), sl_cursor_from_cstr(bad[i].task),
                                            sl_cursor_from_cstr(bad[i].id), sl_cursor_from_cstr(bad[i].name)),
                       bad[i].detail);
        assert_string_equal(sl_buf_cstr(&key), "keep");
        sl_buf_clean_up(&key);
    }
}

static void quarantine_key_parse_refuses_bad_keys(void **state)
{
    (void)state;
    struct {
        const char *key, *detail;
    } bad[] = {
        { "", "does not start with \"q/\"" },
        { "x/reports/t/" ID "/n", "does not start with \"q/\"" },
        { "Q/reports/t/" ID "/n", "does not start with \"q/\"" },
        { "q/", "no \"/\" after its route" },
        { "q/reports", "no \"/\" after its route" },
        { "q/reports/t-1", "no \"/\" after its task" },
        { "q/reports/t-1/" ID, "no \"/\" after its artifact id" },
        { "q/reports/t-1/" ID "/", "empty name" },
        { "q//t-1/" ID "/n", "route name is empty" },
        { "q/Reports/t-1/" ID "/n", "must start with a-z or 0-9" },
        { "q/reports//" ID "/n", "task id is empty" },
        { "q/reports/t.1/" ID "/n", "byte 0x2e at offset 1" },
        { "q/reports/t-1/0123456789abcdef0123456789abcdeg/n", "lower-case hex" },
        { "q/reports/t-1/0123456789abcdef0123456789ABCDEF/n", "lower-case hex" },
        { "q/reports/t-1/0123456789abcdef0123456789abcde/n", "is 31 bytes" },
        { "q/reports/t-1/0123456789abcdef0123456789abcdef0/n", "is 33 bytes" },
        { "q/reports/t-1/dir/" ID "/n", "is 3 bytes" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        quarantine_key_parts parts = { .route = { (const uint8_t *)"keep", 4 } };
        sl_error_clear();
        expect_invalid(quarantine_key_parse(sl_cursor_from_cstr(bad[i].key), &parts), bad[i].detail);
        assert_true(sl_cursor_eq_cstr(parts.route, "keep"));
        assert_null(parts.name.ptr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(terminal_states_are_the_settled_ones),
        cmocka_unit_test(table_allows_exactly_the_design),
        cmocka_unit_test(table_rows_are_listed_with_reasons),
        cmocka_unit_test(every_state_is_reachable_from_staged),
        cmocka_unit_test(mermaid_is_generated_from_the_table),
        cmocka_unit_test(id_matches_an_independent_sha256),
        cmocka_unit_test(id_ignores_quotes_and_separates_inputs),
        cmocka_unit_test(id_refuses_bad_inputs_and_leaves_output),
        cmocka_unit_test(key_part_rules),
        cmocka_unit_test(staging_key_splits_good_keys),
        cmocka_unit_test(staging_key_refuses_bad_keys),
        cmocka_unit_test(quarantine_key_builds_and_parses_back),
        cmocka_unit_test(quarantine_key_build_refuses_bad_parts),
        cmocka_unit_test(quarantine_key_parse_refuses_bad_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

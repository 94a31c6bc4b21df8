/*
 * test_task.c — unit tests of mover/state/task: the task states and their transitions
 * table (against an independent list written from the issue), the Mermaid diagram and
 * the copy of it in docs/tasks.md, task ids, names, name patterns, fingerprints (against
 * vectors computed with Python's hashlib), times, and the task manifest: building,
 * transitions, the exact JSON, strict parsing and a table of broken manifests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "state/artifact.h"
#include "state/task.h"
#include "util/timefmt.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

/* ---- states and transitions ---- */

/* The lifecycle as the issue states it ("open → closed → expired"; closing is explicit
 * or at TTL), written out independently of SL_TASK_TRANSITIONS. */
static const struct {
    const char *from, *to, *event;
} expected_rows[] = {
    { "open", "closed", "task_close" },
    { "open", "expired", "task_expire" },
    { "closed", "expired", "task_expire" },
};
#define EXPECTED_COUNT (sizeof(expected_rows) / sizeof(expected_rows[0]))

static const char *const state_list[] = { "open", "closed", "expired" };

static void state_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(TASK_STATE_COUNT, 3);
    for (int s = 0; s < TASK_STATE_COUNT; s++) {
        assert_string_equal(task_state_name((task_state)s), state_list[s]);
        task_state back = TASK_STATE_COUNT;
        assert_true(task_state_from_name(cur(state_list[s]), &back));
        assert_int_equal(back, s);
    }
    task_state untouched = TASK_CLOSED;
    assert_false(task_state_from_name(cur("Open"), &untouched));
    assert_false(task_state_from_name(cur("opened"), &untouched));
    assert_false(task_state_from_name(cur(""), &untouched));
    assert_int_equal(untouched, TASK_CLOSED);
    assert_string_equal(task_state_name((task_state)99), "(invalid state)");
    assert_false(task_state_is_terminal(TASK_OPEN));
    assert_false(task_state_is_terminal(TASK_CLOSED));
    assert_true(task_state_is_terminal(TASK_EXPIRED));
    assert_false(task_state_is_terminal((task_state)-1));
}

static void transitions_are_exactly_the_lifecycle(void **state)
{
    (void)state;
    for (int from = 0; from < TASK_STATE_COUNT; from++) {
        for (int to = 0; to < TASK_STATE_COUNT; to++) {
            const char *event = NULL;
            bool allowed = task_transition_allowed((task_state)from, (task_state)to, &event);
            bool listed = false;
            for (size_t i = 0; i < EXPECTED_COUNT; i++) {
                if (strcmp(expected_rows[i].from, state_list[from]) == 0 &&
                    strcmp(expected_rows[i].to, state_list[to]) == 0) {
                    listed = true;
                    assert_true(allowed);
                    assert_string_equal(event, expected_rows[i].event);
                }
            }
            if (!listed) assert_false(allowed);
        }
    }
    /* nothing leaves expired; nothing returns to open */
    assert_false(task_transition_allowed(TASK_EXPIRED, TASK_CLOSED, NULL));
    assert_false(task_transition_allowed(TASK_CLOSED, TASK_OPEN, NULL));
    assert_false(task_transition_allowed((task_state)7, TASK_OPEN, NULL));
    assert_false(task_transition_allowed(TASK_OPEN, (task_state)-1, NULL));
    size_t count = 0;
    const task_transition_info *rows = task_transitions(&count);
    assert_int_equal(count, EXPECTED_COUNT);
    for (size_t i = 0; i < count; i++) assert_true(rows[i].why != NULL && rows[i].why[0] != '\0');
}

static const char expected_mermaid[] = "stateDiagram-v2\n"
                                       "    [*] --> open\n"
                                       "    open --> closed : task_close\n"
                                       "    open --> expired : task_expire\n"
                                       "    closed --> expired : task_expire\n"
                                       "    expired --> [*]\n";

static void mermaid_diagram(void **state)
{
    (void)state;
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "x")));
    assert_true(sl_ok(task_states_mermaid(&out)));
    assert_string_equal(sl_buf_cstr(&out) + 1, expected_mermaid);
    sl_buf_clean_up(&out);
}

/* docs/tasks.md carries the diagram; it must be exactly what the table draws. */
static void doc_diagram_current(void **state)
{
    (void)state;
    sl_buf doc = { 0 }, diagram = { 0 };
    assert_true(sl_ok(sl_buf_read_file(&doc, SLUICE_SOURCE_DIR "/docs/tasks.md", 1 << 20)));
    assert_true(sl_ok(task_states_mermaid(&diagram)));
    const char *start = strstr(sl_buf_cstr(&doc), "```mermaid\n");
    if (start == NULL) fail_msg("docs/tasks.md has no ```mermaid block");
    start += strlen("```mermaid\n");
    const char *end = strstr(start, "```");
    assert_non_null(end);
    if ((size_t)(end - start) != diagram.len || memcmp(start, diagram.data, diagram.len) != 0)
        fail_msg("docs/tasks.md's diagram differs from SL_TASK_TRANSITIONS; it must read:\n%s", sl_buf_cstr(&diagram));
    sl_buf_clean_up(&doc);
    sl_buf_clean_up(&diagram);
}

/* ---- ids ---- */

static int decode64(char c)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, c);
    return p && c ? (int)(p - alphabet) : -1;
}

static void ids_are_random_urlsafe_128_bits(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][SL_TASK_ID_LEN + 1];
    unsigned bit_counts[128] = { 0 };
    for (int i = 0; i < N; i++) {
        assert_true(sl_ok(task_id_generate(ids[i])));
        assert_int_equal(strlen(ids[i]), SL_TASK_ID_LEN);
        assert_true(sl_ok(artifact_task_id_check(cur(ids[i]))));
        assert_true(ids[i][0] != '-');
        /* 22 characters carry 132 bits; the last 4 must be zero padding (16 bytes) */
        int last = decode64(ids[i][SL_TASK_ID_LEN - 1]);
        assert_true(last >= 0 && (last & 15) == 0);
        for (int c = 0; c < SL_TASK_ID_LEN; c++) {
            int v = decode64(ids[i][c]);
            assert_true(v >= 0);
            for (int b = 0; b < 6; b++) {
                int bit = c * 6 + b;
                if (bit < 128 && (v >> (5 - b) & 1)) bit_counts[bit]++;
            }
        }
        for (int j = 0; j < i; j++) assert_string_not_equal(ids[i], ids[j]);
    }
    /* every bit position varies (each is set in roughly half the ids); the first
     * character's bits are slightly biased by the redraw of a leading "-" */
    for (int b = 0; b < 128; b++) {
        if (bit_counts[b] < N / 2 - 200 || bit_counts[b] > N / 2 + 200)
            fail_msg("bit %d of the ids was set %u times in %d", b, bit_counts[b], N);
    }
}

/* ---- names ---- */

static void names(void **state)
{
    (void)state;
    const char *good[] = { "a", "out.csv", "dir/sub/file.json", "..a", "a..b", ".hidden", "日本語.txt",
                           "with space+plus%.txt", "a-b_c~d" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (sl_failed(task_name_check(cur(good[i])))) fail_msg("\"%s\" refused: %s", good[i], sl_error_detail());
    const char *bad[] = { "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "../a", "a/..", "tab\there",
                          "new\nline", "del\x7f", "\xff\xfe", "\xc0\xaf", "\xed\xa0\x80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_error_clear();
        if (sl_ok(task_name_check(cur(bad[i])))) fail_msg("bad name %zu accepted", i);
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }
    char long_name[SL_TASK_MAX_NAME + 2];
    memset(long_name, 'x', sizeof(long_name));
    long_name[SL_TASK_MAX_NAME] = '\0';
    assert_true(sl_ok(task_name_check(cur(long_name))));
    long_name[SL_TASK_MAX_NAME] = 'x';
    long_name[SL_TASK_MAX_NAME + 1] = '\0';
    assert_true(sl_failed(task_name_check(cur(long_name))));
    /* control bytes are reported as hex, never echoed */
    assert_true(sl_failed(task_name_check(cur("a\x01"))));
    assert_non_null(strstr(sl_error_detail(), "0x01"));
}

/* ---- patterns ---- */

static void patterns(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *name;
        bool match;
    } cases[] = {
        { "*.csv", "a.csv", true },
        { "*.csv", "a.csv.gz", false },
        { "*.csv", "dir/a.csv", false },
        { "*.csv", ".csv", true },
        { "*/*.csv", "dir/a.csv", true },
        { "**.csv", "dir/sub/a.csv", true },
        { "**.csv", "a.csv", true },
        { "out/**", "out/x/y.json", true },
        { "out/**", "out/", true },
        { "out/**", "other/x", false },
        { "report-??.pdf", "report-07.pdf", true },
        { "report-??.pdf", "report-7.pdf", false },
        { "?", "é", true },        /* one UTF-8 character, two bytes */
        { "??", "é", false },
        { "?", "/", false },
        { "a\\*b", "a*b", true },
        { "a\\*b", "axb", false },
        { "a\\?", "a?", true },
        { "a\\\\b", "a\\b", true },
        { "exact.txt", "exact.txt", true },
        { "exact.txt", "exact.txt2", false },
        { "*", "", true },
        { "*a*b*c", "xxaxxbxxc", true },
        { "*a*b*c", "xxaxxcxxb", false },
        { "**/data/*.json", "x/y/data/z.json", true },
        { "**/data/*.json", "data/z.json", false },
        { "日*", "日本", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(sl_ok(task_pattern_check(cur(cases[i].pattern))));
        if (task_pattern_match(cur(cases[i].pattern), cur(cases[i].name)) != cases[i].match)
            fail_msg("pattern \"%s\" against \"%s\": expected %s", cases[i].pattern, cases[i].name,
                     cases[i].match ? "a match" : "no match");
    }
    const char *bad[] = { "", "a***", "a\\", "tab\t", "\xff" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_ok(task_pattern_check(cur(bad[i])))) fail_msg("bad pattern %zu accepted", i);
        assert_false(task_pattern_match(cur(bad[i]), cur("a***")));
    }
    char long_pattern[SL_TASK_MAX_PATTERN + 2];
    memset(long_pattern, 'p', sizeof(long_pattern));
    long_pattern[SL_TASK_MAX_PATTERN + 1] = '\0';
    assert_true(sl_failed(task_pattern_check(cur(long_pattern))));
}

/* The pattern that makes backtracking matchers exponential stays fast here. */
static void pattern_match_is_polynomial(void **state)
{
    (void)state;
    char pattern[SL_TASK_MAX_PATTERN + 1] = { 0 };
    for (size_t i = 0; i + 3 < SL_TASK_MAX_PATTERN; i += 3) memcpy(pattern + i, "**a", 3);
    size_t plen = strlen(pattern);
    pattern[plen] = 'b';
    char name[SL_TASK_MAX_NAME + 1];
    memset(name, 'a', SL_TASK_MAX_NAME);
    name[SL_TASK_MAX_NAME] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 20; i++) assert_false(task_pattern_match(cur(pattern), cur(name)));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (secs > 2.0) fail_msg("20 worst-case matches took %.2f s", secs);
    name[SL_TASK_MAX_NAME - 1] = 'b';
    assert_true(task_pattern_match(cur(pattern), cur(name)));
}

/* ---- fingerprints ---- */

static void fingerprints(void **state)
{
    (void)state;
    /* hashlib.sha256(name + b"\0" + str(ms).encode() + b"\0" + str(size).encode()).hexdigest()[:16] */
    static const struct {
        const char *name;
        int64_t ms;
        uint64_t size;
        const char *hex;
    } vectors[] = {
        { "out.csv", 1700000000000, 12, "d3b81b5007873d59" },
        { "out.csv", 1700000000001, 12, "ceb9a1315c6e85ac" },
        { "out.csv", 1700000000000, 13, "2af42b1bad9ffc5e" },
        { "a/b.json", 0, 0, "a0db5c5ed45f9334" },
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char out[SL_TASK_FINGERPRINT_LEN + 1];
        assert_true(sl_ok(task_fingerprint(cur(vectors[i].name), vectors[i].ms, vectors[i].size, out)));
        assert_string_equal(out, vectors[i].hex);
    }
}

/* ---- times ---- */

static void times(void **state)
{
    (void)state;
    char text[25];
    assert_true(sl_time_format(1795809600000, text));
    assert_string_equal(text, "2026-11-27T20:00:00.000Z");
    assert_true(sl_time_format(1795810200250, text));
    assert_string_equal(text, "2026-11-27T20:10:00.250Z");
    assert_true(sl_time_format(0, text));
    assert_string_equal(text, "1970-01-01T00:00:00.000Z");
    assert_false(sl_time_format(-1, text));
    assert_false(sl_time_format(253402300800000, text));
    int64_t ms = 0;
    assert_true(sl_time_parse(cur("2026-11-27T20:10:00.250Z"), &ms));
    assert_int_equal(ms, 1795810200250);
    assert_true(sl_time_parse(cur("2024-02-29T00:00:00.000Z"), &ms));
    const char *bad[] = { "2026-02-30T00:00:00.000Z", "2026-11-27T20:10:00Z", "2026-11-27 20:10:00.250Z",
                          "1969-12-31T23:59:59.999Z", "2026-11-27T24:00:00.000Z", "2026-13-01T00:00:00.000Z",
                          "2026-11-27T20:10:00.250+00:00", "2025-02-29T00:00:00.000Z", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        if (sl_time_parse(cur(bad[i]), &ms)) fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(ms, 42);
    }
}

/* ---- the manifest ---- */

#define ID "AbCdEfGhIjKlMnOpQrSt_w"
#define OPENED 1795809600000   /* 2026-11-27T20:00:00.000Z */
#define EXPIRES 1795811400000  /* 2026-11-27T20:30:00.000Z */
#define CLOSED 1795810200250   /* 2026-11-27T20:10:00.250Z */
#define EXPIRED 1795811401000  /* 2026-11-27T20:30:01.000Z */

static void build(task_manifest *m)
{
    assert_true(sl_ok(task_manifest_init(m, ID, "reports", "orchestrator", OPENED, EXPIRES, 10485760)));
    m->limits.max_objects = 10;
    assert_true(sl_ok(task_manifest_add_key(m, "out.csv", false, 0)));
    assert_true(sl_ok(task_manifest_add_key(m, "plot.png", true, 2048)));
    assert_true(sl_ok(task_manifest_set_pattern(m, "*.json")));
    assert_true(sl_ok(task_manifest_add_accepted(m, "d3b81b5007873d59")));
}

static const char open_json[] =
    "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"opened_by\":\"orchestrator\","
    "\"opened_at\":\"2026-11-27T20:00:00.000Z\",\"expires_at\":\"2026-11-27T20:30:00.000Z\",\"state\":\"open\","
    "\"limits\":{\"max_objects\":10,\"max_bytes\":10485760,\"keys\":[{\"name\":\"out.csv\"},"
    "{\"name\":\"plot.png\",\"size\":2048}],\"name_pattern\":\"*.json\"},"
    "\"accepted\":[\"d3b81b5007873d59\"],\"history\":[]}";

static const char expired_json[] =
    "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"opened_by\":\"orchestrator\","
    "\"opened_at\":\"2026-11-27T20:00:00.000Z\",\"expires_at\":\"2026-11-27T20:30:00.000Z\",\"state\":\"expired\","
    "\"closed_at\":\"2026-11-27T20:10:00.250Z\",\"closed_by\":\"alice\","
    "\"limits\":{\"max_objects\":10,\"max_bytes\":10485760,\"keys\":[{\"name\":\"out.csv\"},"
    "{\"name\":\"plot.png\",\"size\":2048}],\"name_pattern\":\"*.json\"},"
    "\"accepted\":[\"d3b81b5007873d59\"],\"history\":["
    "{\"time\":\"2026-11-27T20:10:00.250Z\",\"from\":\"open\",\"to\":\"closed\",\"event\":\"task_close\","
    "\"actor\":\"alice\",\"detail\":\"done\"},"
    "{\"time\":\"2026-11-27T20:30:01.000Z\",\"from\":\"closed\",\"to\":\"expired\",\"event\":\"task_expire\","
    "\"actor\":\"mover\"}]}";

static void manifest_json_exact_and_round_trip(void **state)
{
    (void)state;
    task_manifest m;
    build(&m);
    sl_buf json = { 0 };
    assert_true(sl_ok(task_manifest_to_json(&m, &json)));
    assert_string_equal(sl_buf_cstr(&json), open_json);

    assert_true(sl_ok(task_manifest_transition(&m, TASK_CLOSED, CLOSED, "alice", "done")));
    assert_true(m.closed);
    assert_int_equal(m.closed_at_ms, CLOSED);
    assert_string_equal(m.closed_by, "alice");
    assert_true(sl_ok(task_manifest_transition(&m, TASK_EXPIRED, EXPIRED, "mover", NULL)));
    sl_buf_reset(&json);
    assert_true(sl_ok(task_manifest_to_json(&m, &json)));
    assert_string_equal(sl_buf_cstr(&json), expired_json);

    task_manifest back;
    assert_true(sl_ok(task_manifest_from_json(sl_cursor_from_buf(&json), &back)));
    assert_int_equal(back.state, TASK_EXPIRED);
    assert_int_equal(back.history_count, 2);
    assert_int_equal(back.limits.key_count, 2);
    assert_true(back.limits.keys[1].has_size);
    assert_int_equal(back.limits.keys[1].size, 2048);
    sl_buf again = { 0 };
    assert_true(sl_ok(task_manifest_to_json(&back, &again)));
    assert_string_equal(sl_buf_cstr(&again), expired_json);

    task_manifest copy;
    task_manifest_copy(&back, &copy);
    sl_buf copied = { 0 };
    assert_true(sl_ok(task_manifest_to_json(&copy, &copied)));
    assert_string_equal(sl_buf_cstr(&copied), expired_json);

    task_manifest_clean_up(&copy);
    task_manifest_clean_up(&back);
    task_manifest_clean_up(&m);
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&again);
    sl_buf_clean_up(&copied);
}

static void minimal_manifest(void **state)
{
    (void)state;
    task_manifest m;
    assert_true(sl_ok(task_manifest_init(&m, ID, "metrics", "orch", OPENED, EXPIRES, 1)));
    sl_buf json = { 0 };
    assert_true(sl_ok(task_manifest_to_json(&m, &json)));
    assert_string_equal(sl_buf_cstr(&json),
                        "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"metrics\",\"opened_by\":\"orch\","
                        "\"opened_at\":\"2026-11-27T20:00:00.000Z\",\"expires_at\":\"2026-11-27T20:30:00.000Z\","
                        "\"state\":\"open\",\"limits\":{\"max_bytes\":1},\"history\":[]}");
    task_manifest back;
    assert_true(sl_ok(task_manifest_from_json(sl_cursor_from_buf(&json), &back)));
    assert_int_equal(back.limits.max_objects, 0);
    assert_null(back.limits.name_pattern);
    assert_true(task_manifest_name_allowed(&back, cur("anything/at/all.bin")));
    task_manifest_clean_up(&back);
    task_manifest_clean_up(&m);
    sl_buf_clean_up(&json);
}

static void transitions_on_the_manifest(void **state)
{
    (void)state;
    task_manifest m;
    build(&m);
    /* open -> open and open -> (invalid) are refused; nothing changes */
    assert_true(sl_failed(task_manifest_transition(&m, TASK_OPEN, CLOSED, "x", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_true(sl_failed(task_manifest_transition(&m, TASK_CLOSED, OPENED - 1, "x", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(task_manifest_transition(&m, TASK_CLOSED, CLOSED, "", NULL)));
    assert_true(sl_failed(task_manifest_transition(&m, TASK_CLOSED, CLOSED, "x", "\xff")));
    assert_int_equal(m.state, TASK_OPEN);
    assert_int_equal(m.history_count, 0);
    assert_false(m.closed);
    /* open -> expired directly: no closed_at */
    assert_true(sl_ok(task_manifest_transition(&m, TASK_EXPIRED, EXPIRED, "mover", NULL)));
    assert_false(m.closed);
    assert_true(sl_failed(task_manifest_transition(&m, TASK_CLOSED, EXPIRED, "x", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_true(sl_failed(task_manifest_transition(&m, TASK_EXPIRED, EXPIRED, "x", NULL)));
    sl_buf json = { 0 };
    assert_true(sl_ok(task_manifest_to_json(&m, &json)));
    assert_null(strstr(sl_buf_cstr(&json), "closed_at"));
    sl_buf_clean_up(&json);
    task_manifest_clean_up(&m);
}

static void limits_and_accepted(void **state)
{
    (void)state;
    task_manifest m;
    assert_true(sl_ok(task_manifest_init(&m, ID, "reports", "orch", OPENED, EXPIRES, 100)));
    /* accepted needs max_objects */
    assert_true(sl_failed(task_manifest_add_accepted(&m, "d3b81b5007873d59")));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    m.limits.max_objects = 2;
    assert_true(sl_ok(task_manifest_add_accepted(&m, "d3b81b5007873d59")));
    assert_true(sl_failed(task_manifest_add_accepted(&m, "d3b81b5007873d59"))); /* duplicate */
    assert_true(sl_failed(task_manifest_add_accepted(&m, "D3B81B5007873D59"))); /* upper case */
    assert_true(sl_failed(task_manifest_add_accepted(&m, "d3b81b")));           /* short */
    assert_true(sl_ok(task_manifest_add_accepted(&m, "ceb9a1315c6e85ac")));
    assert_true(sl_failed(task_manifest_add_accepted(&m, "2af42b1bad9ffc5e"))); /* full */
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_true(task_manifest_has_accepted(&m, "ceb9a1315c6e85ac"));
    task_manifest_drop_accepted(&m, 1);
    assert_false(task_manifest_has_accepted(&m, "ceb9a1315c6e85ac"));
    assert_int_equal(m.accepted_count, 1);
    task_manifest_drop_accepted(&m, 5);
    assert_int_equal(m.accepted_count, 0);

    /* keys: valid names, no duplicates, sizes within max_bytes */
    assert_true(sl_failed(task_manifest_add_key(&m, "../x", false, 0)));
    assert_true(sl_ok(task_manifest_add_key(&m, "a.csv", true, 100)));
    assert_true(sl_failed(task_manifest_add_key(&m, "a.csv", false, 0)));
    assert_true(sl_failed(task_manifest_add_key(&m, "b.csv", true, 101)));
    assert_int_equal(m.limits.key_count, 1);
    assert_true(sl_failed(task_manifest_set_pattern(&m, "a***")));
    assert_null(m.limits.name_pattern);

    /* names: with keys only, only the keys */
    assert_true(task_manifest_name_allowed(&m, cur("a.csv")));
    assert_false(task_manifest_name_allowed(&m, cur("b.csv")));
    assert_true(sl_ok(task_manifest_set_pattern(&m, "logs/*.txt")));
    assert_true(task_manifest_name_allowed(&m, cur("a.csv")));
    assert_true(task_manifest_name_allowed(&m, cur("logs/x.txt")));
    assert_false(task_manifest_name_allowed(&m, cur("logs/x/y.txt")));
    assert_non_null(task_manifest_find_key(&m, cur("a.csv")));
    assert_null(task_manifest_find_key(&m, cur("a.cs")));

    /* init refuses bad inputs and leaves nothing to clean up */
    task_manifest bad;
    assert_true(sl_failed(task_manifest_init(&bad, "has space", "reports", "o", OPENED, EXPIRES, 1)));
    assert_true(sl_failed(task_manifest_init(&bad, ID, "Reports", "o", OPENED, EXPIRES, 1)));
    assert_true(sl_failed(task_manifest_init(&bad, ID, "reports", "", OPENED, EXPIRES, 1)));
    assert_true(sl_failed(task_manifest_init(&bad, ID, "reports", "o", OPENED, OPENED, 1)));
    assert_true(sl_failed(task_manifest_init(&bad, ID, "reports", "o", OPENED, OPENED + SL_TASK_MAX_TTL_MS + 1, 1)));
    assert_true(sl_ok(task_manifest_init(&bad, ID, "reports", "o", OPENED, OPENED + SL_TASK_MAX_TTL_MS, 1)));
    task_manifest_clean_up(&bad);
    assert_true(sl_failed(task_manifest_init(&bad, ID, "reports", "o", OPENED, EXPIRES, 0)));
    assert_null(bad.id);
    task_manifest_clean_up(&m);
}

/* ---- strict parsing: a table of broken manifests ---- */

/* open_json with one substitution: `from` replaced by `to` (which must occur once). */
static char *mutate(const char *base, const char *from, const char *to)
{
    const char *at = strstr(base, from);
    assert_non_null(at);
    assert_null(strstr(at + 1, from));
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append(&out, base, (size_t)(at - base))));
    assert_true(sl_ok(sl_buf_append_cstr(&out, to)));
    assert_true(sl_ok(sl_buf_append_cstr(&out, at + strlen(from))));
    return sl_buf_steal(&out);
}

static void broken_manifests(void **state)
{
    (void)state;
    static const struct {
        const char *base; /* "open" or "expired" */
        const char *from, *to;
        sl_error code;
        const char *detail; /* a part of the detail */
    } cases[] = {
        { "open", "\"schema\":1", "\"schema\":2", SL_ERR_UNSUPPORTED, "schema" },
        { "open", "\"schema\":1", "\"schema\":\"1\"", SL_ERR_PARSE, "schema" },
        { "open", "\"route\":\"reports\"", "\"route\":\"Reports\"", SL_ERR_PARSE, "route" },
        { "open", "\"route\":\"reports\",", "", SL_ERR_PARSE, "route: missing" },
        { "open", "\"opened_by\":\"orchestrator\"", "\"opened_by\":\"\"", SL_ERR_PARSE, "opened_by" },
        { "open", "\"opened_by\":\"orchestrator\"", "\"opened_by\":null", SL_ERR_PARSE, "null" },
        { "open", "\"id\":\"" ID "\"", "\"id\":\"a b\"", SL_ERR_PARSE, "id" },
        { "open", "\"state\":\"open\"", "\"state\":\"closed\"", SL_ERR_PARSE, "history ends in open" },
        { "open", "\"state\":\"open\"", "\"state\":\"ajar\"", SL_ERR_PARSE, "not a task state" },
        { "open", "\"expires_at\":\"2026-11-27T20:30:00.000Z\"", "\"expires_at\":\"2026-11-27T19:30:00.000Z\"",
          SL_ERR_PARSE, "expires_at" },
        { "open", "\"expires_at\":\"2026-11-27T20:30:00.000Z\"", "\"expires_at\":\"2026-12-05T20:30:00.000Z\"",
          SL_ERR_PARSE, "7 days" },
        { "open", "\"opened_at\":\"2026-11-27T20:00:00.000Z\"", "\"opened_at\":\"2026-11-27T20:00:00Z\"",
          SL_ERR_PARSE, "opened_at" },
        { "open", "\"history\":[]", "\"history\":[],\"extra\":1", SL_ERR_PARSE, "unknown field \"extra\"" },
        { "open", "\"history\":[]", "\"history\":[],\"route\":\"metrics\"", SL_ERR_PARSE, "duplicate" },
        { "open", ",\"history\":[]", "", SL_ERR_PARSE, "history: missing" },
        { "open", "\"max_bytes\":10485760", "\"max_bytes\":0", SL_ERR_PARSE, "max_bytes" },
        { "open", "\"max_bytes\":10485760", "\"max_bytes\":-1", SL_ERR_PARSE, "max_bytes" },
        { "open", "\"max_objects\":10", "\"max_objects\":0", SL_ERR_PARSE, "max_objects" },
        { "open", "\"max_objects\":10", "\"max_objects\":10001", SL_ERR_PARSE, "max_objects" },
        { "open", "\"max_objects\":10,", "", SL_ERR_PARSE, "accepted" },
        { "open", "\"accepted\":[\"d3b81b5007873d59\"],", "", SL_ERR_PARSE, "accepted" },
        { "open", "[\"d3b81b5007873d59\"]", "[\"d3b81b5007873d59\",\"d3b81b5007873d59\"]", SL_ERR_PARSE,
          "accepted[1]" },
        { "open", "[\"d3b81b5007873d59\"]", "[\"D3B81B5007873D59\"]", SL_ERR_PARSE, "accepted[0]" },
        { "open", "\"name_pattern\":\"*.json\"", "\"name_pattern\":\"***\"", SL_ERR_PARSE, "name_pattern" },
        { "open", "{\"name\":\"out.csv\"}", "{\"name\":\"../out.csv\"}", SL_ERR_PARSE, "keys[0].name" },
        { "open", "{\"name\":\"out.csv\"}", "{\"name\":\"plot.png\"}", SL_ERR_PARSE, "same name" },
        { "open", "\"size\":2048", "\"size\":10485761", SL_ERR_PARSE, "size" },
        { "open", "{\"name\":\"out.csv\"}", "{\"name\":\"out.csv\",\"mode\":1}", SL_ERR_PARSE, "unknown field" },
        { "open", "\"keys\":[{\"name\":\"out.csv\"},{\"name\":\"plot.png\",\"size\":2048}]", "\"keys\":[]",
          SL_ERR_PARSE, "keys: empty" },
        { "open", "\"limits\":{", "\"limits\":{\"ttl\":1,", SL_ERR_PARSE, "limits: unknown field" },
        { "open", "\"state\":\"open\",", "\"state\":\"open\",\"closed_at\":\"2026-11-27T20:10:00.250Z\",",
          SL_ERR_PARSE, "closed_at" },
        { "expired", "\"closed_by\":\"alice\"", "\"closed_by\":\"bob\"", SL_ERR_PARSE, "closed_at/closed_by" },
        { "expired", ",\"closed_by\":\"alice\"", "", SL_ERR_PARSE, "closed_at/closed_by" },
        { "expired", "\"event\":\"task_close\"", "\"event\":\"close\"", SL_ERR_PARSE, "not the event" },
        { "expired", "\"from\":\"closed\"", "\"from\":\"open\"", SL_ERR_PARSE, "history[1]: starts from open" },
        { "expired", "\"from\":\"open\",\"to\":\"closed\"", "\"from\":\"closed\",\"to\":\"open\"", SL_ERR_PARSE,
          "not an allowed transition" },
        { "expired", "\"state\":\"expired\"", "\"state\":\"closed\"", SL_ERR_PARSE, "history ends in expired" },
        { "expired", "\"time\":\"2026-11-27T20:10:00.250Z\"", "\"time\":\"2026-11-27T19:10:00.250Z\"",
          SL_ERR_PARSE, "history[0].time" },
        { "expired", "\"actor\":\"mover\"", "\"actor\":\"\"", SL_ERR_PARSE, "history[1].actor" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *base = strcmp(cases[i].base, "open") == 0 ? open_json : expired_json;
        char *text = mutate(base, cases[i].from, cases[i].to);
        task_manifest m;
        sl_error_clear();
        sl_result r = task_manifest_from_json(cur(text), &m);
        if (sl_ok(r)) fail_msg("case %zu parsed: %s", i, text);
        if (sl_error_last() != cases[i].code || strstr(sl_error_detail(), cases[i].detail) == NULL)
            fail_msg("case %zu: %s \"%s\", expected %s with \"%s\"", i, sl_error_name(sl_error_last()),
                     sl_error_detail(), sl_error_name(cases[i].code), cases[i].detail);
        assert_null(m.id);
        sl_free(text);
    }
    /* not JSON, not an object, too large */
    task_manifest m;
    assert_true(sl_failed(task_manifest_from_json(cur("{"), &m)));
    assert_true(sl_failed(task_manifest_from_json(cur("[]"), &m)));
    assert_true(sl_failed(task_manifest_from_json(sl_cursor_from_bytes(open_json, SL_TASK_MAX_JSON + 1), &m)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    /* the unmodified documents parse */
    assert_true(sl_ok(task_manifest_from_json(cur(open_json), &m)));
    task_manifest_clean_up(&m);
    assert_true(sl_ok(task_manifest_from_json(cur(expired_json), &m)));
    task_manifest_clean_up(&m);
}

static void to_json_refuses_invalid(void **state)
{
    (void)state;
    task_manifest m;
    build(&m);
    sl_buf json = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&json, "keep")));
    m.state = TASK_CLOSED; /* no history for it */
    assert_true(sl_failed(task_manifest_to_json(&m, &json)));
    assert_string_equal(sl_buf_cstr(&json), "keep");
    m.state = TASK_OPEN;
    m.limits.max_objects = 0; /* accepted without max_objects */
    assert_true(sl_failed(task_manifest_to_json(&m, &json)));
    m.limits.max_objects = 10;
    assert_true(sl_ok(task_manifest_to_json(&m, &json)));
    sl_buf_clean_up(&json);
    task_manifest_clean_up(&m);
}

static void manifest_keys(void **state)
{
    (void)state;
    sl_buf key = { 0 };
    assert_true(sl_ok(task_manifest_key(&key, "sluice/", ID)));
    assert_string_equal(sl_buf_cstr(&key), "sluice/tasks/" ID ".json");
    assert_true(sl_failed(task_manifest_key(&key, "sluice/", "../x")));
    assert_true(sl_failed(task_manifest_key(&key, NULL, ID)));
    assert_string_equal(sl_buf_cstr(&key), "sluice/tasks/" ID ".json");
    sl_buf_clean_up(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(transitions_are_exactly_the_lifecycle),
        cmocka_unit_test(mermaid_diagram),
        cmocka_unit_test(doc_diagram_current),
        cmocka_unit_test(ids_are_random_urlsafe_128_bits),
        cmocka_unit_test(names),
        cmocka_unit_test(patterns),
        cmocka_unit_test(pattern_match_is_polynomial),
        cmocka_unit_test(fingerprints),
        cmocka_unit_test(times),
        cmocka_unit_test(manifest_json_exact_and_round_trip),
        cmocka_unit_test(minimal_manifest),
        cmocka_unit_test(transitions_on_the_manifest),
        cmocka_unit_test(limits_and_accepted),
        cmocka_unit_test(broken_manifests),
        cmocka_unit_test(to_json_refuses_invalid),
        cmocka_unit_test(manifest_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_manifest.c — unit tests of mover/state/manifest: building a manifest
 * (init, set, transitions, findings), its JSON form (exact bytes, key order, times),
 * the round trip, the strict parser's refusals, and the limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/artifact.h"
#include "state/manifest.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

/* python3 -c "import hashlib;print(hashlib.sha256(
 *   b'reports/t-1/out.csv\x00d41d8cd98f00b204e9800998ecf8427e').hexdigest()[:32])" */
#define ID "e90bb90af3ab0f4e7234316b3cf4e7c9"
#define STAGING_KEY "reports/t-1/out.csv"
#define STAGING_ETAG "\"d41d8cd98f00b204e9800998ecf8427e\""
#define QUARANTINE_KEY "q/reports/t-1/" ID "/out.csv"
#define T0 1795809600123 /* 2026-11-27T20:00:00.123Z */

/* The manifest of the example in manifest.h, as the mover writes it: exact bytes. */
static const char example_json[] =
    "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"task\":\"t-1\",\"name\":\"out.csv\","
    "\"staging_key\":\"" STAGING_KEY "\",\"staging_etag\":\"\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\","
    "\"quarantine_key\":\"" QUARANTINE_KEY "\",\"quarantine_etag\":\"\\\"0cc175b9c0f1b6a831c399e269772661\\\"\","
    "\"size\":123,\"declared_type\":\"text/csv\",\"detected_type\":\"text/x-shellscript\","
    "\"sha256\":\"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\","
    "\"checked_with\":\"rules default.json@1a2b3c4d5e6f; yara x.yar@0a1b2c3d4e5f\",\"state\":\"blocked\","
    "\"findings\":[{\"check\":\"type\",\"verdict\":\"fail\",\"detail\":\"text/x-shellscript is not allowed\"}],"
    "\"history\":[{\"time\":\"2026-11-27T20:00:00.123Z\",\"from\":\"quarantined\",\"to\":\"checking\","
    "\"event\":\"check\",\"actor\":\"mover\"},"
    "{\"time\":\"2026-11-27T20:00:01.000Z\",\"from\":\"checking\",\"to\":\"blocked\",\"event\":\"block\","
    "\"actor\":\"mover\",\"detail\":\"type\"}]}";

static void build_example(artifact_manifest *m)
{
    assert_true(sl_ok(artifact_manifest_init(m, ID, "reports", "t-1", "out.csv", ARTIFACT_QUARANTINED)));
    artifact_manifest_set(&m->staging_key, STAGING_KEY);
    artifact_manifest_set(&m->staging_etag, STAGING_ETAG);
    artifact_manifest_set(&m->quarantine_key, QUARANTINE_KEY);
    artifact_manifest_set(&m->quarantine_etag, "\"0cc175b9c0f1b6a831c399e269772661\"");
    m->has_size = true;
    m->size = 123;
    artifact_manifest_set(&m->declared_type, "text/csv");
    artifact_manifest_set(&m->detected_type, "text/x-shellscript");
    strcpy(m->sha256, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
    artifact_manifest_set(&m->checked_with, "rules default.json@1a2b3c4d5e6f; yara x.yar@0a1b2c3d4e5f");
    assert_true(sl_ok(artifact_manifest_transition(m, ARTIFACT_CHECKING, T0, "mover", NULL)));
    assert_true(sl_ok(artifact_manifest_add_finding(m, "type", FINDING_FAIL, "text/x-shellscript is not allowed")));
    assert_true(sl_ok(artifact_manifest_transition(m, ARTIFACT_BLOCKED, T0 + 877, "mover", "type")));
}

static char *to_json(const artifact_manifest *m)
{
    sl_buf out = { 0 };
    if (sl_failed(artifact_manifest_to_json(m, &out))) {
        char text[600];
        fail_msg("to_json: %s", sl_error_describe(text, sizeof(text)));
    }
    return sl_buf_steal(&out);
}

/* A copy of text with the one occurrence of `old` replaced by `new`. */
static char *replaced(const char *text, const char *old, const char *new)
{
    const char *at = strstr(text, old);
    if (at == NULL) fail_msg("\"%s\" is not in the text", old);
    assert_null(strstr(at + 1, old));
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append(&out, text, (size_t)(at - text))));
    assert_true(sl_ok(sl_buf_append_cstr(&out, new)));
    assert_true(sl_ok(sl_buf_append_cstr(&out, at + strlen(old))));
    return sl_buf_steal(&out);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return false;
    return true;
}

/* Parsing `json` fails with `code` and a detail containing `detail`, leaving *out zeroed. */
static void expect_refused(const char *json, size_t len, sl_error code, const char *detail)
{
    artifact_manifest m;
    memset(&m, 0xa5, sizeof(m));
    sl_error_clear();
    if (sl_ok(artifact_manifest_from_json(sl_cursor_from_bytes(json, len), &m))) {
        artifact_manifest_clean_up(&m);
        fail_msg("accepted: %.200s", json);
    }
    if (sl_error_last() != code || strstr(sl_error_detail(), detail) == NULL)
        fail_msg("expected %s with \"%s\", got %s: \"%s\"", sl_error_name(code), detail,
                 sl_error_name(sl_error_last()), sl_error_detail());
    assert_true(all_zero(&m, sizeof(m)));
}

/* expect_refused on the example with `old` replaced by `new`. */
static void refuse_edit(const char *old, const char *new, sl_error code, const char *detail)
{
    char *json = replaced(example_json, old, new);
    expect_refused(json, strlen(json), code, detail);
    sl_free(json);
}

/* ---- writing ---- */

static void example_is_written_exactly(void **state)
{
    (void)state;
    artifact_manifest m;
    build_example(&m);
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "kept:")));
    assert_true(sl_ok(artifact_manifest_to_json(&m, &out)));
    assert_string_equal(sl_buf_cstr(&out) + 5, example_json);
    assert_memory_equal(out.data, "kept:", 5);
    sl_buf_clean_up(&out);
    artifact_manifest_clean_up(&m);
}

static void minimal_manifest_omits_unset_fields(void **state)
{
    (void)state;
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_IN_REVIEW)));
    char *json = to_json(&m);
    assert_string_equal(json, "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"task\":\"t-1\","
                              "\"name\":\"out.csv\",\"state\":\"in_review\",\"findings\":[],\"history\":[]}");
    artifact_manifest back;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &back)));
    assert_int_equal(back.state, ARTIFACT_IN_REVIEW);
    assert_null(back.staging_key);
    assert_false(back.has_size);
    assert_string_equal(back.sha256, "");
    assert_int_equal(back.history_count, 0);
    assert_int_equal(back.finding_count, 0);
    artifact_manifest_clean_up(&back);
    sl_free(json);
    /* findings may be absent when read */
    const char *no_findings = "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"task\":\"t-1\","
                              "\"name\":\"out.csv\",\"state\":\"failed\",\"history\":[]}";
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(no_findings), &back)));
    assert_int_equal(back.state, ARTIFACT_FAILED);
    artifact_manifest_clean_up(&back);
    artifact_manifest_clean_up(&m);
}

/* ---- the round trip ---- */

static void assert_same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_same_manifest(const artifact_manifest *a, const artifact_manifest *b)
{
    assert_string_equal(a->id, b->id);
    assert_same_text(a->route, b->route);
    assert_same_text(a->task, b->task);
    assert_same_text(a->name, b->name);
    assert_same_text(a->staging_key, b->staging_key);
    assert_same_text(a->staging_etag, b->staging_etag);
    assert_same_text(a->quarantine_key, b->quarantine_key);
    assert_same_text(a->quarantine_etag, b->quarantine_etag);
    assert_int_equal(a->has_size, b->has_size);
    assert_true(a->size == b->size);
    assert_same_text(a->declared_type, b->declared_type);
    assert_same_text(a->detected_type, b->detected_type);
    assert_string_equal(a->sha256, b->sha256);
    assert_same_text(a->checked_with, b->checked_with);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->finding_count, b->finding_count);
    for (size_t i = 0; i < a->finding_count; i++) {
        assert_string_equal(a->findings[i].check, b->findings[i].check);
        assert_int_equal(a->findings[i].verdict, b->findings[i].verdict);
        assert_same_text(a->findings[i].detail, b->findings[i].detail);
    }
    assert_int_equal(a->history_count, b->history_count);
    for (size_t i = 0; i < a->history_count; i++) {
        assert_true(a->history[i].time_ms == b->history[i].time_ms);
        assert_int_equal(a->history[i].from, b->history[i].from);
        assert_int_equal(a->history[i].to, b->history[i].to);
        assert_string_equal(a->history[i].actor, b->history[i].actor);
        assert_same_text(a->history[i].detail, b->history[i].detail);
    }
}

static void round_trip_keeps_every_field(void **state)
{
    (void)state;
    /* unicode, quotes, backslashes and control characters in every kind of string */
    const char *name = "r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \"q\" back\\slash/x.csv";
    const char *task = "Task_01-z";
    char id[SL_ARTIFACT_ID_LEN + 1];
    sl_buf staging_key = { 0 }, quarantine_key = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&staging_key, "reports/%s/%s", task, name)));
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_buf(&staging_key), sl_cursor_from_cstr("\"abc-3\""), id)));
    assert_true(sl_ok(quarantine_key_build(&quarantine_key, sl_cursor_from_cstr("reports"), sl_cursor_from_cstr(task),
                                           sl_cursor_from_cstr(id), sl_cursor_from_cstr(name))));

    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, id, "reports", task, name, ARTIFACT_STAGED)));
    artifact_manifest_set(&m.staging_key, sl_buf_cstr(&staging_key));
    artifact_manifest_set(&m.staging_etag, "\"abc-3\"");
    artifact_manifest_set(&m.quarantine_key, sl_buf_cstr(&quarantine_key));
    artifact_manifest_set(&m.quarantine_etag, "\"abc-3\"");
    m.has_size = true;
    m.size = (uint64_t)INT64_MAX;
    artifact_manifest_set(&m.declared_type, "text/csv; charset=\"utf-8\"");
    artifact_manifest_set(&m.detected_type, "");
    memset(m.sha256, 'f', 64);
    m.sha256[64] = '\0';
    assert_true(sl_ok(artifact_manifest_add_finding(&m, "key", FINDING_PASS, NULL)));
    assert_true(
        sl_ok(artifact_manifest_add_finding(&m, "yara", FINDING_REVIEW, "rule \"aws_key\"\n\tat 0x10 \\ \x01")));
    assert_true(sl_ok(artifact_manifest_add_finding(&m, "clamd", FINDING_ERROR, "")));
    assert_true(sl_ok(artifact_manifest_add_finding(&m, "size", FINDING_FAIL, "\xe2\x80\xa8 line separator")));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_QUARANTINED, 0, "mover", "")));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_CHECKING, 951782400000, "mover", NULL)));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_IN_REVIEW, 1709164800999, "mover", "human")));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_EXPIRED, 4107542399999, "j\xc3\xb6rg", "24h \"TTL\"")));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_PURGED, 253402300799999, "mover", "retention")));

    char *json = to_json(&m);
    /* the times as RFC 3339 UTC with milliseconds (independently: Python's
     * datetime(1970,1,1) + timedelta(milliseconds=ms)) */
    assert_non_null(strstr(json, "\"time\":\"1970-01-01T00:00:00.000Z\""));
    assert_non_null(strstr(json, "\"time\":\"2000-02-29T00:00:00.000Z\""));
    assert_non_null(strstr(json, "\"time\":\"2024-02-29T00:00:00.999Z\""));
    assert_non_null(strstr(json, "\"time\":\"2100-02-28T23:59:59.999Z\""));
    assert_non_null(strstr(json, "\"time\":\"9999-12-31T23:59:59.999Z\""));
    assert_non_null(strstr(json, "\\\"q\\\" back\\\\slash/x.csv")); /* escaped, "/" left alone */
    assert_non_null(strstr(json, "\\n\\tat 0x10 \\\\ \\u0001"));
    assert_non_null(strstr(json, "\xf0\x9f\x98\x80"));               /* UTF-8 kept as UTF-8 */
    assert_non_null(strstr(json, "\"size\":9223372036854775807"));

    artifact_manifest back;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &back)));
    assert_same_manifest(&m, &back);
    char *again = to_json(&back);
    assert_string_equal(again, json); /* byte-identical */
    sl_free(again);
    sl_free(json);
    artifact_manifest_clean_up(&back);
    artifact_manifest_clean_up(&m);
    sl_buf_clean_up(&staging_key);
    sl_buf_clean_up(&quarantine_key);
}

static void times_round_trip_to_the_millisecond(void **state)
{
    (void)state;
    /* 1000 history entries (the limit), quarantined <-> failed, with times spread over
     * 1970..9999 by a fixed pseudo-random walk; each must come back exactly. */
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_QUARANTINED)));
    uint64_t x = 88172645463325252u;
    int64_t t = 0;
    for (int i = 0; i < SL_MANIFEST_MAX_HISTORY; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        artifact_state to = m.state == ARTIFACT_QUARANTINED ? ARTIFACT_FAILED : ARTIFACT_QUARANTINED;
        assert_true(sl_ok(artifact_manifest_transition(&m, to, t, "mover", NULL)));
        t += (int64_t)(x % 506804601599u); /* mean step ~ (9999-1970 years) / 1000 */
        if (t > 253402300799999) t = 253402300799999 - (int64_t)(x % 1000);
    }
    char *json = to_json(&m);
    artifact_manifest back;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &back)));
    assert_same_manifest(&m, &back);
    artifact_manifest_clean_up(&back);
    sl_free(json);
    artifact_manifest_clean_up(&m);
}

/* ---- strict parsing ---- */

static void example_parses(void **state)
{
    (void)state;
    artifact_manifest m, expected;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(example_json), &m)));
    build_example(&expected);
    assert_same_manifest(&m, &expected);
    artifact_manifest_clean_up(&expected);
    artifact_manifest_clean_up(&m);
}

static void parse_refuses_unknown_fields(void **state)
{
    (void)state;
    refuse_edit("{\"schema\":1,", "{\"schema\":1,\"extra\":1,", SL_ERR_PARSE, "manifest: unknown field \"extra\"");
    refuse_edit("\"verdict\":\"fail\",", "\"verdict\":\"fail\",\"severity\":3,", SL_ERR_PARSE,
                "findings[0]: unknown field \"severity\"");
    refuse_edit("\"event\":\"block\",", "\"event\":\"block\",\"who\":\"x\",", SL_ERR_PARSE,
                "history[1]: unknown field \"who\"");
    refuse_edit("{\"schema\":1,", "{\"schema\":1,\"bad\\nkey\":1,", SL_ERR_PARSE, "unknown field \"bad?key\"");
}

static void parse_refuses_wrong_schema(void **state)
{
    (void)state;
    refuse_edit("\"schema\":1", "\"schema\":2", SL_ERR_UNSUPPORTED, "schema: 2 is not supported");
    refuse_edit("\"schema\":1", "\"schema\":0", SL_ERR_UNSUPPORTED, "schema: 0 is not supported");
    refuse_edit("\"schema\":1", "\"schema\":\"1\"", SL_ERR_PARSE, "schema: expected the integer 1");
    refuse_edit("\"schema\":1", "\"schema\":1.0", SL_ERR_PARSE, "schema: expected the integer 1");
    refuse_edit("\"schema\":1,", "", SL_ERR_PARSE, "schema: missing");
}

static void parse_refuses_missing_and_mistyped_fields(void **state)
{
    (void)state;
    refuse_edit("\"id\":\"" ID "\",", "", SL_ERR_PARSE, "id: missing");
    refuse_edit("\"route\":\"reports\",", "", SL_ERR_PARSE, "route: missing");
    /* a manifest without a task is one of a key that names none: it cannot have a
     * quarantine copy (nothing of it is kept) */
    refuse_edit("\"task\":\"t-1\",", "", SL_ERR_PARSE, "quarantine_key: given for an artifact without a task");
    refuse_edit("\"name\":\"out.csv\",", "", SL_ERR_PARSE, "name: missing");
    refuse_edit("\"state\":\"blocked\",", "", SL_ERR_PARSE, "state: missing");
    refuse_edit(",\"history\":[", ",\"h\":[", SL_ERR_PARSE, "manifest: unknown field \"h\"");
    refuse_edit("\"name\":\"out.csv\"", "\"name\":\"\"", SL_ERR_PARSE, "name: empty");
    refuse_edit("\"name\":\"out.csv\"", "\"name\":7", SL_ERR_PARSE, "name: expected a string");
    refuse_edit("\"detected_type\":\"text/x-shellscript\"", "\"detected_type\":null", SL_ERR_PARSE,
                "detected_type: null is not allowed");
    refuse_edit("\"size\":123", "\"size\":-1", SL_ERR_PARSE, "size: expected a non-negative integer");
    refuse_edit("\"size\":123", "\"size\":12.5", SL_ERR_PARSE, "size: expected a non-negative integer");
    refuse_edit("\"size\":123", "\"size\":99999999999999999999", SL_ERR_PARSE, "too big");
    refuse_edit("\"sha256\":\"ca978112", "\"sha256\":\"CA978112", SL_ERR_PARSE, "sha256: expected 64 lower-case");
    refuse_edit("48bb\"", "48b\"", SL_ERR_PARSE, "sha256: expected 64 lower-case");
    refuse_edit("\"findings\":[{", "\"findings\":[7,{", SL_ERR_PARSE, "findings[0]: expected an object");
    refuse_edit("[{\"check\":\"type\",\"verdict\":\"fail\",\"detail\":\"text/x-shellscript is not allowed\"}]", "{}",
                SL_ERR_PARSE, "findings: expected an array");
    refuse_edit("\"verdict\":\"fail\"", "\"verdict\":\"FAIL\"", SL_ERR_PARSE,
                "findings[0].verdict: \"FAIL\" is not a verdict");
    refuse_edit("\"check\":\"type\",", "", SL_ERR_PARSE, "findings[0].check: missing");
    refuse_edit("\"check\":\"type\"", "\"check\":\"\"", SL_ERR_PARSE, "findings[0].check: empty");
    refuse_edit("\"actor\":\"mover\",\"detail\"", "\"detail\"", SL_ERR_PARSE, "history[1].actor: missing");
    refuse_edit("\"event\":\"check\",", "", SL_ERR_PARSE, "history[0].event: missing");
}

static void parse_refuses_bad_ids_and_keys(void **state)
{
    (void)state;
    refuse_edit("\"id\":\"" ID "\"", "\"id\":\"E90BB90AF3AB0F4E7234316B3CF4E7C9\"", SL_ERR_PARSE,
                "id: artifact id has byte 0x45");
    refuse_edit("\"id\":\"" ID "\"", "\"id\":\"e90bb90af3ab0f4e\"", SL_ERR_PARSE, "id: artifact id is 16 bytes");
    /* a valid id that the staging key and ETag do not derive */
    refuse_edit("\"id\":\"" ID "\"", "\"id\":\"00000000000000000000000000000000\"", SL_ERR_PARSE,
                "id: the staging key and ETag derive " ID);
    refuse_edit("\"staging_etag\":\"\\\"d41d", "\"staging_etag\":\"\\\"e41d", SL_ERR_PARSE,
                "id: the staging key and ETag derive");
    refuse_edit("\"staging_etag\":\"\\\"d41d", "\"staging_etag\":\"\\\"d 41d", SL_ERR_PARSE,
                "staging_etag: artifact id: the ETag has byte 0x20");
    refuse_edit("\"quarantine_key\":\"q/reports/t-1/", "\"quarantine_key\":\"q/metrics/t-1/", SL_ERR_PARSE,
                "quarantine_key: is not q/<route>/<task>/<id>/<name> of this manifest");
    refuse_edit("\"staging_key\":\"reports/t-1/out.csv\"", "\"staging_key\":\"reports/t-2/out.csv\"",
                SL_ERR_PARSE, "staging_key: does not end with <task>/<name>");
    refuse_edit("\"route\":\"reports\"", "\"route\":\"Reports\"", SL_ERR_PARSE, "route: route name starts with");
    refuse_edit("\"task\":\"t-1\"", "\"task\":\"t/1\"", SL_ERR_PARSE, "task: task id has byte 0x2f");
}

static void parse_refuses_bad_states_and_history(void **state)
{
    (void)state;
    refuse_edit("\"state\":\"blocked\"", "\"state\":\"done\"", SL_ERR_PARSE, "state: \"done\" is not a state");
    refuse_edit("\"from\":\"checking\"", "\"from\":\"Checking\"", SL_ERR_PARSE,
                "history[1].from: \"Checking\" is not a state");
    /* a transition the table does not allow */
    refuse_edit("\"from\":\"quarantined\",\"to\":\"checking\",\"event\":\"check\"",
                "\"from\":\"quarantined\",\"to\":\"approved\",\"event\":\"approve\"", SL_ERR_PARSE,
                "history[0]: quarantined -> approved is not an allowed transition");
    refuse_edit("\"from\":\"checking\",\"to\":\"blocked\",\"event\":\"block\"",
                "\"from\":\"checking\",\"to\":\"promoted\",\"event\":\"promoted\"", SL_ERR_PARSE,
                "history[1]: checking -> promoted is not an allowed transition");
    /* a broken chain: entry 1 does not start where entry 0 ended */
    refuse_edit("\"from\":\"checking\",\"to\":\"blocked\",\"event\":\"block\"",
                "\"from\":\"quarantined\",\"to\":\"blocked\",\"event\":\"block\"", SL_ERR_PARSE,
                "history[1]: starts from quarantined but history[0] ended in checking");
    /* the last entry must end in the state */
    refuse_edit("\"state\":\"blocked\"", "\"state\":\"purged\"", SL_ERR_PARSE,
                "state: purged, but history[1] ended in blocked");
    /* the event is the table's */
    refuse_edit("\"event\":\"block\"", "\"event\":\"fail\"", SL_ERR_PARSE,
                "history[1].event: \"fail\" is not the event of checking -> blocked (\"block\")");
    refuse_edit("{\"time\":\"2026-11-27T20:00:00.123Z\",", "{\"time\":\"2026-11-27T20:00:00.123Z\",\"time\":\"x\",",
                SL_ERR_PARSE, "duplicate");
    refuse_edit("\"history\":[{", "\"history\":[[],{", SL_ERR_PARSE, "history[0]: expected an object");
}

static void parse_refuses_bad_times(void **state)
{
    (void)state;
    const char *bad[] = {
        "2026-02-29T00:00:00.000Z", /* not a leap year */
        "2026-04-31T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-00-10T00:00:00.000Z",
        "2026-11-00T00:00:00.000Z", "2026-11-27T24:00:00.000Z", "2026-11-27T20:60:00.000Z",
        "2026-11-27T20:00:60.000Z", "2026-11-27T20:00:00Z",      "2026-11-27T20:00:00.12Z",
        "2026-11-27T20:00:00.1234Z", "2026-11-27T20:00:00.123z", "2026-11-27t20:00:00.123Z",
        "2026-11-27 20:00:00.123Z", "2026-11-27T20:00:00.123+00:00", "1969-12-31T23:59:59.999Z",
        "+2026-11-27T20:00:00.123", "2026-11-27T2a:00:00.123Z", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char with[80];
        snprintf(with, sizeof(with), "\"time\":\"%s\"", bad[i]);
        refuse_edit("\"time\":\"2026-11-27T20:00:00.123Z\"", with, SL_ERR_PARSE,
                    "history[0].time: expected RFC 3339 UTC with milliseconds");
    }
    refuse_edit("\"time\":\"2026-11-27T20:00:00.123Z\"", "\"time\":1795809600123", SL_ERR_PARSE,
                "history[0].time: expected a string");
    /* the edges that are valid */
    char *ok = replaced(example_json, "\"time\":\"2026-11-27T20:00:00.123Z\"", "\"time\":\"2000-02-29T23:59:59.999Z\"");
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(ok), &m)));
    assert_true(m.history[0].time_ms == 951868799999);
    artifact_manifest_clean_up(&m);
    sl_free(ok);
}

static void parse_refuses_malformed_json(void **state)
{
    (void)state;
    size_t len = strlen(example_json);
    /* every truncation of a valid manifest is refused */
    for (size_t cut = 0; cut < len; cut++) expect_refused(example_json, cut, SL_ERR_PARSE, "manifest: ");
    char *trailing = replaced(example_json, "}]}", "}]} x");
    expect_refused(trailing, strlen(trailing), SL_ERR_PARSE, "manifest: end of file expected");
    sl_free(trailing);
    expect_refused("[]", 2, SL_ERR_PARSE, "manifest: expected a JSON object");
    expect_refused("\"x\"", 3, SL_ERR_PARSE, "manifest: ");
    expect_refused(NULL, 0, SL_ERR_PARSE, "manifest: ");
    refuse_edit("\"name\":\"out.csv\"", "\"name\":\"out\\u0000.csv\"", SL_ERR_PARSE, "manifest: ");
    refuse_edit("\"name\":\"out.csv\"", "\"name\":\"out\xff.csv\"", SL_ERR_PARSE, "manifest: ");
    refuse_edit("\"name\":\"out.csv\"", "\"name\":\"out\\ud800.csv\"", SL_ERR_PARSE, "manifest: ");
}

static void parse_refuses_over_limit(void **state)
{
    (void)state;
    /* a document over 1 MiB, whatever it holds */
    size_t big = SL_MANIFEST_MAX_JSON + 1;
    char *doc = sl_malloc(big);
    memset(doc, ' ', big);
    doc[0] = '{';
    doc[big - 1] = '}';
    expect_refused(doc, big, SL_ERR_LIMIT, "more than 1048576");
    sl_free(doc);

    /* a string over 64 KiB; exactly 64 KiB is fine */
    char *detail = sl_malloc(SL_MANIFEST_MAX_STRING + 2);
    memset(detail, 'd', SL_MANIFEST_MAX_STRING + 1);
    detail[SL_MANIFEST_MAX_STRING + 1] = '\0';
    sl_buf with = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&with, "\"detail\":\"%s\"}]}", detail)));
    char *json = replaced(example_json, "\"detail\":\"type\"}]}", sl_buf_cstr(&with));
    expect_refused(json, strlen(json), SL_ERR_LIMIT, "history[1].detail: longer than 65536 bytes");
    sl_free(json);
    detail[SL_MANIFEST_MAX_STRING] = '\0';
    sl_buf_reset(&with);
    assert_true(sl_ok(sl_buf_appendf(&with, "\"detail\":\"%s\"}]}", detail)));
    json = replaced(example_json, "\"detail\":\"type\"}]}", sl_buf_cstr(&with));
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &m)));
    assert_int_equal(strlen(m.history[1].detail), SL_MANIFEST_MAX_STRING);
    artifact_manifest_clean_up(&m);
    sl_free(json);
    sl_buf_clean_up(&with);
    sl_free(detail);

    /* 1001 findings, 1001 history entries */
    sl_buf findings = { 0 }, history = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&findings, "\"findings\":[")));
    for (int i = 0; i <= SL_MANIFEST_MAX_FINDINGS; i++)
        assert_true(sl_ok(sl_buf_appendf(&findings, "%s{\"check\":\"c\",\"verdict\":\"pass\"}", i ? "," : "")));
    assert_true(sl_ok(sl_buf_append_cstr(&findings, "],\"history\":[")));
    json = replaced(example_json,
                    "\"findings\":[{\"check\":\"type\",\"verdict\":\"fail\","
                    "\"detail\":\"text/x-shellscript is not allowed\"}],\"history\":[",
                    sl_buf_cstr(&findings));
    expect_refused(json, strlen(json), SL_ERR_LIMIT, "findings: 1001 entries, more than 1000");
    sl_free(json);

    assert_true(sl_ok(sl_buf_append_cstr(&history, "\"state\":\"failed\",\"findings\":[],\"history\":[")));
    for (int i = 0; i <= SL_MANIFEST_MAX_HISTORY; i++)
        assert_true(sl_ok(sl_buf_appendf(&history,
                                         "%s{\"time\":\"2026-11-27T20:00:00.123Z\",\"from\":\"%s\",\"to\":\"%s\","
                                         "\"event\":\"%s\",\"actor\":\"mover\"}",
                                         i ? "," : "", i % 2 ? "failed" : "quarantined",
                                         i % 2 ? "quarantined" : "failed", i % 2 ? "retry" : "fail")));
    assert_true(sl_ok(sl_buf_append_cstr(&history, "]}")));
    const char *head = "{\"schema\":1,\"id\":\"" ID "\",\"route\":\"reports\",\"task\":\"t-1\",\"name\":\"out.csv\",";
    sl_buf doc2 = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&doc2, head)));
    assert_true(sl_ok(sl_buf_append_cursor(&doc2, sl_cursor_from_buf(&history))));
    expect_refused(sl_buf_cstr(&doc2), doc2.len, SL_ERR_LIMIT, "history: 1001 entries, more than 1000");
    sl_buf_clean_up(&doc2);
    sl_buf_clean_up(&findings);
    sl_buf_clean_up(&history);
}

/* ---- transitions and findings ---- */

static void transition_refusal_changes_nothing(void **state)
{
    (void)state;
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_QUARANTINED)));
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_CHECKING, T0, "mover", NULL)));
    char *before = to_json(&m);

    sl_error_clear();
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_PROMOTED, T0 + 1, "mover", "skip review")));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_string_equal(sl_error_detail(), "checking -> promoted is not an allowed transition");
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_CHECKING, T0 + 1, "mover", NULL)));
    assert_string_equal(sl_error_detail(), "checking -> checking is not an allowed transition");
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_STATE_COUNT, T0 + 1, "mover", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);

    /* refusals for other reasons change nothing either */
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, T0, NULL, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, T0, "", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, -1, "mover", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, 253402300800000, "mover", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, T0, "mover", "bad \xc0\xaf utf-8")));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    char *long_detail = sl_malloc(SL_MANIFEST_MAX_STRING + 2);
    memset(long_detail, 'x', SL_MANIFEST_MAX_STRING + 1);
    long_detail[SL_MANIFEST_MAX_STRING + 1] = '\0';
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_BLOCKED, T0, "mover", long_detail)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    sl_free(long_detail);

    assert_int_equal(m.state, ARTIFACT_CHECKING);
    assert_int_equal(m.history_count, 1);
    char *after = to_json(&m);
    assert_string_equal(after, before);
    sl_free(after);

    /* and an allowed one is appended */
    assert_true(sl_ok(artifact_manifest_transition(&m, ARTIFACT_IN_REVIEW, T0 + 5, "mover", "human route")));
    assert_int_equal(m.state, ARTIFACT_IN_REVIEW);
    assert_int_equal(m.history_count, 2);
    assert_int_equal(m.history[1].from, ARTIFACT_CHECKING);
    assert_int_equal(m.history[1].to, ARTIFACT_IN_REVIEW);
    assert_true(m.history[1].time_ms == T0 + 5);
    assert_string_equal(m.history[1].detail, "human route");
    sl_free(before);
    artifact_manifest_clean_up(&m);
}

static void history_and_findings_are_limited(void **state)
{
    (void)state;
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_QUARANTINED)));
    for (int i = 0; i < SL_MANIFEST_MAX_HISTORY; i++)
        assert_true(sl_ok(artifact_manifest_transition(
            &m, m.state == ARTIFACT_QUARANTINED ? ARTIFACT_FAILED : ARTIFACT_QUARANTINED, T0 + i, "operator", NULL)));
    artifact_state full_state = m.state;
    sl_error_clear();
    assert_true(sl_failed(artifact_manifest_transition(&m, ARTIFACT_FAILED, T0, "mover", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_int_equal(m.history_count, SL_MANIFEST_MAX_HISTORY);
    assert_int_equal(m.state, full_state);

    for (int i = 0; i < SL_MANIFEST_MAX_FINDINGS; i++)
        assert_true(sl_ok(artifact_manifest_add_finding(&m, "yara", FINDING_REVIEW, "rule")));
    assert_true(sl_failed(artifact_manifest_add_finding(&m, "yara", FINDING_REVIEW, "rule")));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_int_equal(m.finding_count, SL_MANIFEST_MAX_FINDINGS);

    /* full, but still within 1 MiB: written and read back */
    char *json = to_json(&m);
    artifact_manifest back;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &back)));
    assert_same_manifest(&m, &back);
    artifact_manifest_clean_up(&back);
    sl_free(json);
    artifact_manifest_clean_up(&m);
}

static void findings_are_checked(void **state)
{
    (void)state;
    assert_string_equal(finding_verdict_name(FINDING_PASS), "pass");
    assert_string_equal(finding_verdict_name(FINDING_FAIL), "fail");
    assert_string_equal(finding_verdict_name(FINDING_REVIEW), "review");
    assert_string_equal(finding_verdict_name(FINDING_ERROR), "error");
    assert_string_equal(finding_verdict_name((finding_verdict)4), "(invalid verdict)");
    artifact_manifest m;
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_CHECKING)));
    assert_true(sl_failed(artifact_manifest_add_finding(&m, NULL, FINDING_PASS, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_add_finding(&m, "", FINDING_PASS, NULL)));
    assert_true(sl_failed(artifact_manifest_add_finding(&m, "type", (finding_verdict)7, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_add_finding(&m, "type", FINDING_FAIL, "\xff")));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    assert_int_equal(m.finding_count, 0);
    assert_null(m.findings);
    assert_true(sl_ok(artifact_manifest_add_finding(&m, "type", FINDING_ERROR, NULL)));
    assert_int_equal(m.finding_count, 1);
    assert_string_equal(m.findings[0].check, "type");
    assert_int_equal(m.findings[0].verdict, FINDING_ERROR);
    assert_null(m.findings[0].detail);
    artifact_manifest_clean_up(&m);
}

/* ---- init, set, to_json refusals, keys ---- */

static void init_checks_its_arguments(void **state)
{
    (void)state;
    artifact_manifest m;
    struct {
        const char *id, *route, *task, *name;
        artifact_state state;
        sl_error code;
    } bad[] = {
        { NULL, "r", "t", "n", ARTIFACT_STAGED, SL_ERR_INVALID_ARGUMENT },
        { "0123", "r", "t", "n", ARTIFACT_STAGED, SL_ERR_INVALID_ARGUMENT },
        { ID, "R", "t", "n", ARTIFACT_STAGED, SL_ERR_INVALID_ARGUMENT },
        { ID, "r", "t/x", "n", ARTIFACT_STAGED, SL_ERR_INVALID_ARGUMENT },
        { ID, "r", "t", "", ARTIFACT_STAGED, SL_ERR_INVALID_ARGUMENT },
        { ID, "r", "t", "\xc3", ARTIFACT_STAGED, SL_ERR_ENCODING },
        { ID, "r", "t", "n", ARTIFACT_STATE_COUNT, SL_ERR_INVALID_ARGUMENT },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&m, 0x5a, sizeof(m));
        sl_error_clear();
        assert_true(sl_failed(artifact_manifest_init(&m, bad[i].id, bad[i].route, bad[i].task, bad[i].name,
                                                     bad[i].state)));
        assert_int_equal(sl_error_last(), bad[i].code);
        assert_true(all_zero(&m, sizeof(m)));
    }
    /* NULL strings stay NULL, and to_json then says what is missing */
    assert_true(sl_ok(artifact_manifest_init(&m, ID, NULL, NULL, "n", ARTIFACT_STAGED)));
    assert_null(m.task);
    sl_buf out = { 0 };
    assert_true(sl_failed(artifact_manifest_to_json(&m, &out)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_string_equal(sl_error_detail(), "route: missing");
    assert_int_equal(out.len, 0);
    artifact_manifest_clean_up(&m);
    artifact_manifest_clean_up(&m); /* twice is fine */
    artifact_manifest_clean_up(NULL);
}

static void set_replaces_and_frees(void **state)
{
    (void)state;
    char *field = NULL;
    artifact_manifest_set(&field, "one");
    assert_string_equal(field, "one");
    artifact_manifest_set(&field, field); /* its own value */
    assert_string_equal(field, "one");
    artifact_manifest_set(&field, "two");
    assert_string_equal(field, "two");
    artifact_manifest_set(&field, NULL);
    assert_null(field);
}

static void to_json_refuses_broken_manifests(void **state)
{
    (void)state;
    artifact_manifest m;
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "kept")));

    /* each edit breaks one invariant; out stays "kept" and the detail names the field */
#define EXPECT_REFUSED(code_, detail_)                                                         \
    do {                                                                                        \
        sl_error_clear();                                                                       \
        assert_true(sl_failed(artifact_manifest_to_json(&m, &out)));                            \
        assert_int_equal(sl_error_last(), (code_));                                             \
        if (strstr(sl_error_detail(), (detail_)) == NULL)                                       \
            fail_msg("detail \"%s\" lacks \"%s\"", sl_error_detail(), (detail_));               \
        assert_string_equal(sl_buf_cstr(&out), "kept");                                         \
        artifact_manifest_clean_up(&m);                                                         \
    } while (0)

    build_example(&m);
    artifact_manifest_set(&m.name, "other.csv");
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "staging_key: does not end with <task>/<name>");

    build_example(&m);
    artifact_manifest_set(&m.quarantine_key, "q/reports/t-1/" ID "/other.csv");
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "quarantine_key: is not");

    build_example(&m);
    artifact_manifest_set(&m.staging_etag, "\"d41d8cd98f00b204e9800998ecf8427f\"");
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "id: the staging key and ETag derive");

    build_example(&m);
    strcpy(m.sha256, "abc");
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "sha256: not 64 lower-case hex digits");

    build_example(&m);
    m.size = (uint64_t)INT64_MAX + 1;
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "size: 9223372036854775808 is too large");

    build_example(&m);
    artifact_manifest_set(&m.detected_type, "text/\xff");
    EXPECT_REFUSED(SL_ERR_ENCODING, "detected_type: not valid UTF-8");

    build_example(&m);
    char *huge = sl_malloc(SL_MANIFEST_MAX_STRING + 2);
    memset(huge, 'h', SL_MANIFEST_MAX_STRING + 1);
    huge[SL_MANIFEST_MAX_STRING + 1] = '\0';
    artifact_manifest_set(&m.declared_type, huge);
    sl_free(huge);
    EXPECT_REFUSED(SL_ERR_LIMIT, "declared_type: longer than 65536 bytes");

    build_example(&m);
    artifact_manifest_set(&m.route, "Reports");
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "route: route name starts with");

    build_example(&m);
    m.state = ARTIFACT_PURGED; /* set behind the table's back */
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "state: purged, but history[1] ended in blocked");

    build_example(&m);
    m.history[0].to = ARTIFACT_APPROVED; /* quarantined -> approved */
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "history[0]: quarantined -> approved is not an allowed transition");

    build_example(&m);
    m.history[0].time_ms = -5;
    EXPECT_REFUSED(SL_ERR_INVALID_ARGUMENT, "history[0].time: -5 ms is outside");

    /* over 1 MiB in all: 1000 findings of 2 KiB each */
    assert_true(sl_ok(artifact_manifest_init(&m, ID, "reports", "t-1", "out.csv", ARTIFACT_CHECKING)));
    char detail[2049];
    memset(detail, 'f', 2048);
    detail[2048] = '\0';
    for (int i = 0; i < SL_MANIFEST_MAX_FINDINGS; i++)
        assert_true(sl_ok(artifact_manifest_add_finding(&m, "yara", FINDING_REVIEW, detail)));
    EXPECT_REFUSED(SL_ERR_LIMIT, "the JSON would exceed 1048576 bytes");
#undef EXPECT_REFUSED
    sl_buf_clean_up(&out);
}

static void decisions_round_trip_and_are_checked(void **state)
{
    (void)state;
    artifact_manifest m;
    build_example(&m);
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    assert_true(sl_ok(artifact_manifest_add_decision(&m, 1795811000123, "alice", true, sha, "looks fine")));
    assert_true(sl_ok(artifact_manifest_add_decision(&m, 1795811000456, "bob", false, sha, NULL)));
    /* refused: no reviewer, a bad sha256; nothing changes */
    assert_true(sl_failed(artifact_manifest_add_decision(&m, 0, "", true, sha, NULL)));
    assert_true(sl_failed(artifact_manifest_add_decision(&m, 0, "carol", true, "ABC", NULL)));
    assert_int_equal(m.decision_count, 2);

    char *json = to_json(&m);
    assert_non_null(strstr(json, "\"decisions\":[{\"time\":\"2026-11-27T"));
    assert_non_null(strstr(json, "\"reviewer\":\"alice\",\"decision\":\"approve\""));
    assert_non_null(strstr(json, "\"reviewer\":\"bob\",\"decision\":\"reject\""));
    artifact_manifest back;
    assert_true(sl_ok(artifact_manifest_from_json(sl_cursor_from_cstr(json), &back)));
    assert_int_equal(back.decision_count, 2);
    assert_string_equal(back.decisions[0].reviewer, "alice");
    assert_true(back.decisions[0].approve);
    assert_int_equal(back.decisions[0].time_ms, 1795811000123);
    assert_string_equal(back.decisions[0].reason, "looks fine");
    assert_false(back.decisions[1].approve);
    assert_null(back.decisions[1].reason);
    assert_string_equal(back.decisions[1].sha256, sha);
    artifact_manifest_clean_up(&back);

    /* a forged decision in the JSON is refused with its path */
    char *bad = strdup(json);
    char *at = strstr(bad, "\"decision\":\"reject\"");
    memcpy(at, "\"decision\":\"rejekt\"", strlen("\"decision\":\"rejekt\""));
    expect_refused(bad, strlen(bad), SL_ERR_PARSE, "decisions[1].decision: expected \"approve\" or \"reject\"");
    free(bad);
    sl_free(json);
    artifact_manifest_clean_up(&m);
}

static void manifest_key_is_under_the_control_prefix(void **state)
{
    (void)state;
    sl_buf key = { 0 };
    assert_true(sl_ok(artifact_manifest_key(&key, "sluice/", ID)));
    assert_string_equal(sl_buf_cstr(&key), "sluice/artifacts/" ID ".json");
    sl_buf_reset(&key);
    assert_true(sl_ok(artifact_manifest_key(&key, "", ID)));
    assert_string_equal(sl_buf_cstr(&key), "artifacts/" ID ".json");
    sl_buf_reset(&key);
    assert_true(sl_ok(sl_buf_append_cstr(&key, "kept")));
    assert_true(sl_failed(artifact_manifest_key(&key, "sluice/", "../../etc/passwd")));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(artifact_manifest_key(&key, "sluice/", NULL)));
    assert_true(sl_failed(artifact_manifest_key(&key, NULL, ID)));
    assert_string_equal(sl_buf_cstr(&key), "kept");
    sl_buf_clean_up(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_is_written_exactly),
        cmocka_unit_test(minimal_manifest_omits_unset_fields),
        cmocka_unit_test(round_trip_keeps_every_field),
        cmocka_unit_test(times_round_trip_to_the_millisecond),
        cmocka_unit_test(example_parses),
        cmocka_unit_test(parse_refuses_unknown_fields),
        cmocka_unit_test(parse_refuses_wrong_schema),
        cmocka_unit_test(parse_refuses_missing_and_mistyped_fields),
        cmocka_unit_test(parse_refuses_bad_ids_and_keys),
        cmocka_unit_test(parse_refuses_bad_states_and_history),
        cmocka_unit_test(parse_refuses_bad_times),
        cmocka_unit_test(parse_refuses_malformed_json),
        cmocka_unit_test(parse_refuses_over_limit),
        cmocka_unit_test(transition_refusal_changes_nothing),
        cmocka_unit_test(history_and_findings_are_limited),
        cmocka_unit_test(findings_are_checked),
        cmocka_unit_test(init_checks_its_arguments),
        cmocka_unit_test(set_replaces_and_frees),
        cmocka_unit_test(to_json_refuses_broken_manifests),
        cmocka_unit_test(decisions_round_trip_and_are_checked),
        cmocka_unit_test(manifest_key_is_under_the_control_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

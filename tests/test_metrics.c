/*
 * test_metrics.c — unit tests of mover/metrics: the exact exposition of counters,
 * gauges and histograms (cumulative buckets, _sum, _count, "+Inf"); the escaping rules
 * (HELP text: \ and newline; label values: \, newline and "), text that is not UTF-8;
 * sample values (integers, shortest round-trip decimals, +Inf, -Inf, NaN); names and
 * labels the format cannot carry are refused; the series bound and its drop counter;
 * collectors; counters mirrored with metrics_counter_set never go back; exact totals
 * when four threads record at once.
 *
 * `test_metrics --sample` prints an exposition holding every case above instead: the
 * ctest metrics_promtool feeds it to `promtool check metrics`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/buf.h"

static metrics_registry *new_registry(void)
{
    metrics_registry *r = NULL;
    assert_true(sl_ok(metrics_registry_new(&r)));
    return r;
}

static metrics_family *family(metrics_registry *r, metrics_type type, const char *name, const char *help,
                              const char *const *labels, const double *buckets, size_t bucket_count)
{
    metrics_family *f = NULL;
    if (sl_failed(metrics_family_new(r, type, name, help, labels, buckets, bucket_count, &f)))
        fail_msg("%s: %s", name, sl_error_detail());
    return f;
}

/* The exposition without the registry's own drop counter (its 3 lines come first). */
static const char *body_of(const sl_buf *b)
{
    const char *s = sl_buf_cstr(b);
    for (int i = 0; i < 3; i++) s = strchr(s, '\n') + 1;
    return s;
}

static void exposition_is_exact(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    metrics_family *c = family(r, METRICS_COUNTER, "sluice_artifact_transitions_total", "Transitions.",
                               (const char *const[]){ "route", "to", NULL }, NULL, 0);
    metrics_family *g = family(r, METRICS_GAUGE, "sluice_in_flight", "In flight.", NULL, NULL, 0);
    static const double bounds[] = { 0.005, 0.25, 1 };
    metrics_family *h = family(r, METRICS_HISTOGRAM, "sluice_check_duration_seconds", "Check time.",
                               (const char *const[]){ "check", NULL }, bounds, 3);
    metrics_family *empty = family(r, METRICS_GAUGE, "sluice_unused", "Never set.", NULL, NULL, 0);
    (void)empty;
    metrics_add(c, METRICS_LABELS("reports", "promoted"), 2);
    metrics_add(c, METRICS_LABELS("reports", "blocked"), 1);
    metrics_add(c, METRICS_LABELS("reports", "promoted"), 3);
    metrics_set(g, METRICS_NO_LABELS, 7);
    metrics_observe_in(h, METRICS_LABELS("type"), 0.001);
    metrics_observe_in(h, METRICS_LABELS("type"), 0.25); /* on a bound: that bucket */
    metrics_observe_in(h, METRICS_LABELS("type"), 3);    /* past the last: +Inf only */
    metrics_observe_in(h, METRICS_LABELS("type"), NAN);  /* not counted */
    sl_buf out = { 0 };
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_true(strncmp(sl_buf_cstr(&out), "# HELP sluice_metrics_series_dropped_total ", 43) == 0);
    assert_string_equal(body_of(&out),
                        "# HELP sluice_artifact_transitions_total Transitions.\n"
                        "# TYPE sluice_artifact_transitions_total counter\n"
                        "sluice_artifact_transitions_total{route=\"reports\",to=\"promoted\"} 5\n"
                        "sluice_artifact_transitions_total{route=\"reports\",to=\"blocked\"} 1\n"
                        "# HELP sluice_in_flight In flight.\n"
                        "# TYPE sluice_in_flight gauge\n"
                        "sluice_in_flight 7\n"
                        "# HELP sluice_check_duration_seconds Check time.\n"
                        "# TYPE sluice_check_duration_seconds histogram\n"
                        "sluice_check_duration_seconds_bucket{check=\"type\",le=\"0.005\"} 1\n"
                        "sluice_check_duration_seconds_bucket{check=\"type\",le=\"0.25\"} 2\n"
                        "sluice_check_duration_seconds_bucket{check=\"type\",le=\"1\"} 2\n"
                        "sluice_check_duration_seconds_bucket{check=\"type\",le=\"+Inf\"} 3\n"
                        "sluice_check_duration_seconds_sum{check=\"type\"} 3.251\n"
                        "sluice_check_duration_seconds_count{check=\"type\"} 3\n"
                        "# HELP sluice_unused Never set.\n"
                        "# TYPE sluice_unused gauge\n");
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
}

static void escaping(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    metrics_family *c = family(r, METRICS_COUNTER, "x_total", "Back\\slash and\nnewline \"quoted\".",
                               (const char *const[]){ "kind", NULL }, NULL, 0);
    metrics_add(c, METRICS_LABELS("a\"b\\c\nd"), 1);
    metrics_add(c, METRICS_LABELS("caf\xc3\xa9 \xff\xfe \xe2\x80"), 1); /* é kept; bad bytes "?" */
    metrics_add(c, METRICS_LABELS(""), 1);
    sl_buf out = { 0 };
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_string_equal(body_of(&out), "# HELP x_total Back\\\\slash and\\nnewline \"quoted\".\n"
                                       "# TYPE x_total counter\n"
                                       "x_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n"
                                       "x_total{kind=\"caf\xc3\xa9 ?? ??\"} 1\n"
                                       "x_total{kind=\"\"} 1\n");
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
}

static void values(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        { 0, "0" }, { 1, "1" }, { -3, "-3" }, { 0.25, "0.25" }, { 0.1, "0.1" }, { 1e-9, "1e-09" },
        { 123456789012345.0, "123456789012345" }, { 1e21, "1e+21" }, { 1.0 / 3, "0.3333333333333333" },
        { INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_buf b = { 0 };
        assert_true(sl_ok(metrics_format_value(cases[i].v, &b)));
        assert_string_equal(sl_buf_cstr(&b), cases[i].text);
        sl_buf_clean_up(&b);
    }
}

static void refusals(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    metrics_family *f = NULL;
    static const double ok_bounds[] = { 1, 2 }, bad_bounds[] = { 2, 1 }, inf_bounds[] = { 1, INFINITY };
    struct {
        metrics_type type;
        const char *name, *help;
        const char *const *labels;
        const double *bounds;
        size_t bound_count;
    } bad[] = {
        { METRICS_GAUGE, "", "h", NULL, NULL, 0 },
        { METRICS_GAUGE, "1abc", "h", NULL, NULL, 0 },
        { METRICS_GAUGE, "a-b", "h", NULL, NULL, 0 },
        { METRICS_COUNTER, "no_suffix", "h", NULL, NULL, 0 },
        { METRICS_GAUGE, "gauge_total", "h", NULL, NULL, 0 },
        { METRICS_GAUGE, "g", "", NULL, NULL, 0 },
        { METRICS_GAUGE, "g", NULL, NULL, NULL, 0 },
        { METRICS_GAUGE, "g", "h", (const char *const[]){ "__reserved", NULL }, NULL, 0 },
        { METRICS_GAUGE, "g", "h", (const char *const[]){ "a:b", NULL }, NULL, 0 },
        { METRICS_GAUGE, "g", "h", (const char *const[]){ "a", "a", NULL }, NULL, 0 },
        { METRICS_GAUGE, "g", "h", (const char *const[]){ "a", "b", "c", "d", "e", NULL }, NULL, 0 },
        { METRICS_HISTOGRAM, "h", "h", (const char *const[]){ "le", NULL }, ok_bounds, 2 },
        { METRICS_HISTOGRAM, "h", "h", NULL, NULL, 0 },
        { METRICS_HISTOGRAM, "h", "h", NULL, bad_bounds, 2 },
        { METRICS_HISTOGRAM, "h", "h", NULL, inf_bounds, 2 },
        { METRICS_GAUGE, "g", "h", NULL, ok_bounds, 2 },
        { METRICS_COUNTER, "sluice_metrics_series_dropped_total", "h", NULL, NULL, 0 }, /* taken */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_ok(metrics_family_new(r, bad[i].type, bad[i].name, bad[i].help, bad[i].labels, bad[i].bounds,
                                     bad[i].bound_count, &f)))
            fail_msg("case %zu (%s) accepted", i, bad[i].name);
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }
    /* label values that do not match the family */
    f = family(r, METRICS_COUNTER, "two_total", "h", (const char *const[]){ "a", "b", NULL }, NULL, 0);
    assert_null(metrics_series_of(f, METRICS_LABELS("only one")));
    assert_null(metrics_series_of(f, METRICS_NO_LABELS));
    assert_null(metrics_series_of(f, METRICS_LABELS("1", "2", "3")));
    assert_non_null(metrics_series_of(f, METRICS_LABELS("1", "2")));
    assert_null(metrics_series_of(NULL, METRICS_NO_LABELS));
    /* a series of another type ignores the wrong recording */
    metrics_series *s = metrics_series_of(f, METRICS_LABELS("1", "2"));
    metrics_gauge_set(s, 5);
    metrics_observe(s, 5);
    assert_true(metrics_series_value(s) == 0);
    metrics_registry_destroy(r);
}

static void series_are_bounded(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    metrics_family *f = family(r, METRICS_COUNTER, "many_total", "h", (const char *const[]){ "n", NULL }, NULL, 0);
    char name[32];
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(name, sizeof(name), "%d", i);
        assert_non_null(metrics_series_of(f, METRICS_LABELS(name)));
    }
    assert_null(metrics_series_of(f, METRICS_LABELS("one more")));
    assert_null(metrics_series_of(f, METRICS_LABELS("and another")));
    assert_non_null(metrics_series_of(f, METRICS_LABELS("7"))); /* existing ones still found */
    sl_buf out = { 0 };
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_non_null(strstr(sl_buf_cstr(&out), "\nsluice_metrics_series_dropped_total 2\n"));
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
}

struct collected {
    metrics_family *mirror;
    uint64_t source;
    int calls;
};

static void collect(void *user, metrics_registry *r)
{
    (void)r;
    struct collected *c = user;
    c->calls++;
    metrics_counter_set(metrics_series_of(c->mirror, NULL), c->source);
}

static void collectors_and_mirrors(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    struct collected c = { .mirror = family(r, METRICS_COUNTER, "mirror_total", "h", NULL, NULL, 0) };
    assert_true(sl_ok(metrics_collector_add(r, collect, &c)));
    sl_buf out = { 0 };
    c.source = 10;
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_non_null(strstr(sl_buf_cstr(&out), "\nmirror_total 10\n"));
    sl_buf_reset(&out);
    c.source = 4; /* a source that went back (restarted): the counter stays */
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_non_null(strstr(sl_buf_cstr(&out), "\nmirror_total 10\n"));
    assert_int_equal(c.calls, 2);
    metrics_collector_remove(r, collect, &c);
    sl_buf_reset(&out);
    assert_true(sl_ok(metrics_render(r, &out)));
    assert_int_equal(c.calls, 2);
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
}

#define THREADS 4
#define PER_THREAD 100000

struct race {
    metrics_family *counter, *gauge, *histogram;
};

static void *record(void *user)
{
    struct race *race = user;
    metrics_series *c = metrics_series_of(race->counter, METRICS_LABELS("x"));
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_counter_add(c, 1);
        metrics_gauge_add(metrics_series_of(race->gauge, NULL), 1);
        metrics_observe_in(race->histogram, NULL, (i % 4) * 0.5);
    }
    return NULL;
}

static void threads_record_exactly(void **state)
{
    (void)state;
    metrics_registry *r = new_registry();
    static const double bounds[] = { 0.5, 1 };
    struct race race = {
        .counter = family(r, METRICS_COUNTER, "race_total", "h", (const char *const[]){ "l", NULL }, NULL, 0),
        .gauge = family(r, METRICS_GAUGE, "race_level", "h", NULL, NULL, 0),
        .histogram = family(r, METRICS_HISTOGRAM, "race_seconds", "h", NULL, bounds, 2),
    };
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, record, &race), 0);
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(metrics_series_value(metrics_series_of(race.counter, METRICS_LABELS("x"))) == THREADS * PER_THREAD);
    assert_true(metrics_series_value(metrics_series_of(race.gauge, NULL)) == THREADS * PER_THREAD);
    assert_true(metrics_series_value(metrics_series_of(race.histogram, NULL)) == THREADS * PER_THREAD);
    sl_buf out = { 0 };
    assert_true(sl_ok(metrics_render(r, &out)));
    /* 0, 0.5, 1, 1.5 in turn: a quarter in each; sum 0.75 per observation */
    assert_non_null(strstr(sl_buf_cstr(&out), "race_seconds_bucket{le=\"0.5\"} 200000\n"
                                              "race_seconds_bucket{le=\"1\"} 300000\n"
                                              "race_seconds_bucket{le=\"+Inf\"} 400000\n"
                                              "race_seconds_sum 300000\n"
                                              "race_seconds_count 400000\n"));
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
}

/* Every case above in one exposition, for promtool. */
static int print_sample(void)
{
    metrics_registry *r = NULL;
    metrics_family *c = NULL, *g = NULL, *h = NULL, *plain = NULL;
    static const double bounds[] = { 0.005, 0.25, 1, 2.5 };
    if (sl_failed(metrics_registry_new(&r)) ||
        sl_failed(metrics_family_new(r, METRICS_COUNTER, "sluice_sample_total", "Back\\slash and\nnewline.",
                                     (const char *const[]){ "kind", "route", NULL }, NULL, 0, &c)) ||
        sl_failed(metrics_family_new(r, METRICS_GAUGE, "sluice_sample_level", "A gauge.",
                                     (const char *const[]){ "state", NULL }, NULL, 0, &g)) ||
        sl_failed(metrics_family_new(r, METRICS_HISTOGRAM, "sluice_sample_seconds", "A histogram.",
                                     (const char *const[]){ "check", NULL }, bounds, 4, &h)) ||
        sl_failed(metrics_family_new(r, METRICS_GAUGE, "sluice_sample_plain", "No labels.", NULL, NULL, 0, &plain)))
        return 1;
    metrics_add(c, METRICS_LABELS("a\"b\\c\nd", "reports"), 3);
    metrics_add(c, METRICS_LABELS("caf\xc3\xa9 \xff", ""), 1);
    metrics_set(g, METRICS_LABELS("up"), INFINITY);
    metrics_set(g, METRICS_LABELS("down"), -INFINITY);
    metrics_set(g, METRICS_LABELS("odd"), NAN);
    metrics_set(g, METRICS_LABELS("third"), 1.0 / 3);
    metrics_set(plain, NULL, 1e21);
    for (int i = 0; i < 10; i++) metrics_observe_in(h, METRICS_LABELS("type"), i * 0.3);
    metrics_observe_in(h, METRICS_LABELS("empty-yet"), 0);
    sl_buf out = { 0 };
    int status = sl_ok(metrics_render(r, &out)) && fwrite(out.data, 1, out.len, stdout) == out.len ? 0 : 1;
    sl_buf_clean_up(&out);
    metrics_registry_destroy(r);
    return status;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--sample") == 0) return print_sample();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_is_exact),  cmocka_unit_test(escaping),
        cmocka_unit_test(values),               cmocka_unit_test(refusals),
        cmocka_unit_test(series_are_bounded),   cmocka_unit_test(collectors_and_mirrors),
        cmocka_unit_test(threads_record_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_policy.c — unit tests of mover/policy: the bucket policies policy_build writes
 * for a configuration, read back with jansson the way S3 reads them.
 *
 * Each case names the behaviour it pins: which statements each bucket gets, in which
 * order, for whom, on which resources and under which conditions; that no statement
 * anywhere uses NotAction (radosgw ignores it) or a wildcard principal; the route
 * prefixes of the grants identity; the VPC endpoint conditions; a control prefix in the
 * quarantine bucket and a control bucket of its own; other partitions; the errors; and
 * the `policy` command's two output forms. The configurations are written with single
 * quotes, swapped for double quotes before loading (as in test_config.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "policy/policy.h"
#include "util/alloc.h"
#include "util/error.h"

#define MOVER "arn:aws:iam:::user/mover"
#define GRANTS "arn:aws:iam:::user/grants"
#define CONSUMER "arn:aws:iam:::user/consumer"
#define CONSUMER2 "arn:aws:iam:::user/analytics"
#define REVIEWER "arn:aws:iam:::user/reviewer"
#define TASK_ROLE "arn:aws:iam:::role/sluice-task"
#define ADMIN "arn:aws:iam:::user/admin"

#define HEAD                                                                                                           \
    "'s3': {'endpoint': 'http://127.0.0.1:7480'}, 'audit': {'file': '/tmp/audit.jsonl'}, "                            \
    "'routes': [{'name': 'reports', 'staging_prefix': 'reports/', 'trusted_prefix': 'out/reports/'}, "                \
    "{'name': 'metrics', 'staging_prefix': 'in/metrics/', 'trusted_prefix': 'metrics/'}], "
#define BUCKETS "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket'}, "
#define IDENTITIES_ALL                                                                                                 \
    "'identities': {'mover': '" MOVER "', 'grants': '" GRANTS "', 'consumers': ['" CONSUMER "', '" CONSUMER2 "'], "   \
    "'reviewers': ['" REVIEWER "']"
#define LOCAL "{" HEAD BUCKETS IDENTITIES_ALL "}}"
/* STS for two routes, reference data in two buckets (one shared by two routes), and an
 * administrator. */
#define WITH_STS                                                                                                       \
    "{'s3': {'endpoint': 'http://127.0.0.1:7480'}, 'audit': {'file': '/tmp/audit.jsonl'}, "                           \
    "'grants': {'sts': {'role_arn': '" TASK_ROLE "'}}, "                                                             \
    "'routes': [{'name': 'reports', 'staging_prefix': 'reports/', 'trusted_prefix': 'out/reports/', 'sts': true, "    \
    "'reference': {'bucket': 'ref-bucket', 'keys': ['models/m1.bin'], 'prefixes': ['data/2026/']}}, "               \
    "{'name': 'metrics', 'staging_prefix': 'in/metrics/', 'trusted_prefix': 'metrics/', "                            \
    "'reference': {'bucket': 'ref-bucket', 'keys': ['models/m1.bin', 'metrics/base.csv']}}, "                       \
    "{'name': 'other', 'staging_prefix': 'o/', 'trusted_prefix': 'o/', 'sts': true, "                                \
    "'reference': {'bucket': 'ref-two', 'keys': ['x.csv']}}, "                                                        \
    "{'name': 'plain', 'staging_prefix': 'p/', 'trusted_prefix': 'p/'}], " BUCKETS IDENTITIES_ALL                   \
    ", 'administrators': ['" ADMIN "']}}"
/* The statements every bucket ends with (before the VPC one). */
#define GUARDS "NobodyMayWriteWithCustomerKeys,OnlyAdministratorsMayChangeBucketSettings"

/* ---- helpers ---- */

static sl_config *load(const char *single_quoted)
{
    char *json = sl_strdup(single_quoted);
    for (char *p = json; *p; p++)
        if (*p == '\'') *p = '"';
    sl_config *c = NULL;
    sl_config_errors errors = { 0 };
    sl_result r = sl_config_load_string(json, "/tmp", &c, &errors);
    for (size_t i = 0; i < errors.count; i++)
        print_message("config error: %s: %s\n", errors.items[i].path, errors.items[i].message);
    assert_true(sl_ok(r));
    sl_config_errors_clean_up(&errors);
    sl_free(json);
    return c;
}

/* Builds the policies of `single_quoted` and parses each document. */
struct built {
    policy_set set;
    json_t *docs[8];
};

static void build(const char *single_quoted, struct built *b)
{
    sl_config *c = load(single_quoted);
    memset(b, 0, sizeof(*b));
    assert_true(sl_ok(policy_build(c, &b->set)));
    sl_config_free(c); /* the set owns copies */
    for (size_t i = 0; i < b->set.count; i++) {
        json_error_t e;
        b->docs[i] = json_loads(b->set.docs[i].json, JSON_REJECT_DUPLICATES, &e);
        if (b->docs[i] == NULL) print_message("document %zu: %s\n", i, e.text);
        assert_non_null(b->docs[i]);
    }
}

static void built_clean_up(struct built *b)
{
    for (size_t i = 0; i < 8; i++) json_decref(b->docs[i]);
    policy_set_clean_up(&b->set);
}

static json_t *statements(json_t *doc) { return json_object_get(doc, "Statement"); }

static json_t *find(json_t *doc, const char *sid)
{
    size_t i;
    json_t *s;
    json_array_foreach(statements(doc), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "Sid")), sid) == 0) return s;
    }
    return NULL;
}

static json_t *must_find(json_t *doc, const char *sid)
{
    json_t *s = find(doc, sid);
    if (s == NULL) print_message("no statement %s\n", sid);
    assert_non_null(s);
    return s;
}

/* The statement ids of `doc`, joined with ",". */
static char *sids(json_t *doc)
{
    char buf[2048] = "";
    size_t i;
    json_t *s;
    json_array_foreach(statements(doc), i, s) {
        if (i > 0) strcat(buf, ",");
        strcat(buf, json_string_value(json_object_get(s, "Sid")));
    }
    return sl_strdup(buf);
}

static void assert_sids(json_t *doc, const char *want)
{
    char *got = sids(doc);
    if (strcmp(got, want) != 0) print_message("statements:\n  got  %s\n  want %s\n", got, want);
    assert_string_equal(got, want);
    sl_free(got);
}

/* `array` holds exactly the NULL-terminated strings, in that order. */
static void assert_strings(json_t *array, ...)
{
    va_list ap;
    va_start(ap, array);
    size_t n = 0;
    for (const char *want; (want = va_arg(ap, const char *)) != NULL; n++) {
        const char *got = json_string_value(json_array_get(array, n));
        if (got == NULL || strcmp(got, want) != 0) print_message("element %zu: got %s, want %s\n", n, got, want);
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    va_end(ap);
    assert_int_equal(json_array_size(array), n);
}

static bool has_string(json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
    }
    return false;
}

static const char *effect(json_t *s) { return json_string_value(json_object_get(s, "Effect")); }
static json_t *actions(json_t *s) { return json_object_get(s, "Action"); }
static json_t *resources(json_t *s) { return json_object_get(s, "Resource"); }
static json_t *principals(json_t *s) { return json_object_get(json_object_get(s, "Principal"), "AWS"); }

static json_t *condition_of(json_t *s, const char *op, const char *key)
{
    return json_object_get(json_object_get(json_object_get(s, "Condition"), op), key);
}

/* ---- the documents ---- */

static void one_document_per_bucket_in_order(void **state)
{
    (void)state;
    struct built b;
    build(LOCAL, &b);
    assert_int_equal(b.set.count, 3);
    assert_string_equal(b.set.docs[0].bucket, "st-bucket");
    assert_int_equal(b.set.docs[0].role, POLICY_BUCKET_STAGING);
    assert_string_equal(b.set.docs[1].bucket, "qu-bucket");
    assert_int_equal(b.set.docs[1].role, POLICY_BUCKET_QUARANTINE);
    assert_string_equal(b.set.docs[2].bucket, "tr-bucket");
    assert_int_equal(b.set.docs[2].role, POLICY_BUCKET_TRUSTED);
    for (size_t i = 0; i < b.set.count; i++) {
        /* compact: what jansson writes compactly is byte for byte the document */
        char *again = json_dumps(b.docs[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_string_equal(again, b.set.docs[i].json);
        free(again);
        assert_null(strchr(b.set.docs[i].json, '\n'));
        assert_string_equal(json_string_value(json_object_get(b.docs[i], "Version")), "2012-10-17");
        assert_int_equal(json_object_size(b.docs[i]), 2);
    }
    built_clean_up(&b);
}

static void staging_lets_grants_only_put_under_route_prefixes(void **state)
{
    (void)state;
    struct built b;
    build(LOCAL, &b);
    json_t *st = b.docs[0];
    assert_sids(st, "MoverMayListStaging,MoverMayReadAndDeleteStagedObjects,GrantsMayOnlyPutIntoRoutePrefixes,"
                    "GrantsMustGiveTheBucketOwnerFullControl,GrantsMayNotPutOutsideRoutePrefixes,"
                    "GrantsMayNotReadListDeleteTagOrChangeAcls,ConsumersAndReviewersMayNotUseStaging,"
                    "NobodyButTheMoverMayUseObjectVersions,NoOtherIdentityMayUseObjectVersions,"
                    "NobodyMayWriteWithCustomerKeys,OnlyAdministratorsMayChangeBucketSettings");

    json_t *put = must_find(st, "GrantsMayOnlyPutIntoRoutePrefixes");
    assert_string_equal(effect(put), "Allow");
    assert_strings(principals(put), GRANTS, NULL);
    assert_strings(actions(put), "s3:PutObject", NULL);
    assert_strings(resources(put), "arn:aws:s3:::st-bucket/reports/*", "arn:aws:s3:::st-bucket/in/metrics/*", NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(put, "Condition"), "StringEqualsIfExists"),
                            "s3:x-amz-acl")),
                        "bucket-owner-full-control");

    json_t *acl = must_find(st, "GrantsMustGiveTheBucketOwnerFullControl");
    assert_string_equal(effect(acl), "Deny");
    assert_strings(principals(acl), GRANTS, NULL);
    assert_strings(actions(acl), "s3:PutObject", NULL);
    assert_strings(resources(acl), "arn:aws:s3:::st-bucket/*", NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(acl, "Condition"), "StringNotEquals"), "s3:x-amz-acl")),
                        "bucket-owner-full-control");

    json_t *outside = must_find(st, "GrantsMayNotPutOutsideRoutePrefixes");
    assert_string_equal(effect(outside), "Deny");
    assert_strings(actions(outside), "s3:PutObject", NULL);
    assert_null(resources(outside));
    assert_strings(json_object_get(outside, "NotResource"), "arn:aws:s3:::st-bucket/reports/*",
                   "arn:aws:s3:::st-bucket/in/metrics/*", NULL);
    assert_null(json_object_get(outside, "Condition"));

    /* Every action but PutObject: reading, listing, deleting, tagging, ACLs, the policy. */
    json_t *rest = must_find(st, "GrantsMayNotReadListDeleteTagOrChangeAcls");
    assert_string_equal(effect(rest), "Deny");
    assert_strings(principals(rest), GRANTS, NULL);
    assert_strings(resources(rest), "arn:aws:s3:::st-bucket", "arn:aws:s3:::st-bucket/*", NULL);
    static const char *const denied[] = { "s3:Get*", "s3:List*", "s3:Delete*", "s3:PutObjectAcl",
                                          "s3:PutObjectVersionAcl", "s3:PutObjectTagging", "s3:PutBucket*",
                                          "s3:AbortMultipartUpload" };
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        if (!has_string(actions(rest), denied[i])) print_message("not denied: %s\n", denied[i]);
        assert_true(has_string(actions(rest), denied[i]));
    }
    assert_false(has_string(actions(rest), "s3:PutObject"));
    assert_false(has_string(actions(rest), "s3:Put*"));
    assert_false(has_string(actions(rest), "s3:*"));

    json_t *mover = must_find(st, "MoverMayReadAndDeleteStagedObjects");
    assert_string_equal(effect(mover), "Allow");
    assert_strings(principals(mover), MOVER, NULL);
    assert_true(has_string(actions(mover), "s3:GetObject"));
    assert_true(has_string(actions(mover), "s3:DeleteObject"));
    assert_false(has_string(actions(mover), "s3:PutObject"));
    assert_strings(resources(mover), "arn:aws:s3:::st-bucket/reports/*", "arn:aws:s3:::st-bucket/in/metrics/*", NULL);
    json_t *list = must_find(st, "MoverMayListStaging");
    assert_true(has_string(actions(list), "s3:ListBucket"));
    assert_strings(resources(list), "arn:aws:s3:::st-bucket", NULL);

    json_t *others = must_find(st, "ConsumersAndReviewersMayNotUseStaging");
    assert_string_equal(effect(others), "Deny");
    assert_strings(principals(others), CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(actions(others), "s3:*", NULL);
    assert_strings(resources(others), "arn:aws:s3:::st-bucket", "arn:aws:s3:::st-bucket/*", NULL);
    built_clean_up(&b);
}

static void quarantine_is_the_movers_alone(void **state)
{
    (void)state;
    struct built b;
    build(LOCAL, &b);
    json_t *qu = b.docs[1];
    assert_sids(qu, "MoverMayListQuarantineAndControl,MoverMayUseQuarantineAndControlKeys,"
                    "NobodyButTheMoverMayUseQuarantineOrControl,NobodyMayDeleteShippedAuditSegments," GUARDS);
    json_t *use = must_find(qu, "MoverMayUseQuarantineAndControlKeys");
    assert_strings(principals(use), MOVER, NULL);
    assert_strings(resources(use), "arn:aws:s3:::qu-bucket/q/*", "arn:aws:s3:::qu-bucket/sluice/*", NULL);
    assert_true(has_string(actions(use), "s3:PutObject"));
    assert_true(has_string(actions(use), "s3:DeleteObject"));
    json_t *deny = must_find(qu, "NobodyButTheMoverMayUseQuarantineOrControl");
    assert_string_equal(effect(deny), "Deny");
    assert_strings(principals(deny), GRANTS, CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(actions(deny), "s3:*", NULL);
    assert_strings(resources(deny), "arn:aws:s3:::qu-bucket", "arn:aws:s3:::qu-bucket/*", NULL);
    built_clean_up(&b);
}

/* Shipped audit segments are written once and never deleted (audit/ship.h): nobody, the
 * mover included, may delete one; the mover still deletes its other control keys. */
static void shipped_audit_segments_are_never_deleted(void **state)
{
    (void)state;
    struct built b;
    build(WITH_STS, &b);
    json_t *named = must_find(b.docs[1], "NobodyMayDeleteShippedAuditSegments");
    assert_string_equal(effect(named), "Deny");
    assert_strings(principals(named), MOVER, GRANTS, TASK_ROLE, CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(actions(named), "s3:DeleteObject", "s3:DeleteObjectVersion", NULL);
    assert_strings(resources(named), "arn:aws:s3:::qu-bucket/sluice/audit/*", NULL);
    assert_null(json_object_get(named, "Condition"));
    json_t *all = must_find(b.docs[1], "NoOtherIdentityMayDeleteShippedAuditSegments");
    assert_string_equal(json_string_value(json_object_get(all, "Principal")), "*");
    assert_true(json_equal(actions(all), actions(named)));
    assert_true(json_equal(resources(all), resources(named)));
    assert_strings(condition_of(all, "ArnNotLike", "aws:PrincipalArn"), ADMIN, NULL);
    assert_true(has_string(actions(must_find(b.docs[1], "MoverMayUseQuarantineAndControlKeys")), "s3:DeleteObject"));
    for (size_t d = 0; d < b.set.count; d++) /* only where the control prefix is */
        if (d != 1) assert_null(find(b.docs[d], "NobodyMayDeleteShippedAuditSegments"));
    built_clean_up(&b);

    /* a control bucket of its own carries them; quarantine then does not */
    build("{" HEAD "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', "
          "'control': 'ctl-bucket', 'control_prefix': 'state/'}, " IDENTITIES_ALL "}}",
          &b);
    assert_null(find(b.docs[1], "NobodyMayDeleteShippedAuditSegments"));
    assert_strings(resources(must_find(b.docs[3], "NobodyMayDeleteShippedAuditSegments")),
                   "arn:aws:s3:::ctl-bucket/state/audit/*", NULL);
    assert_null(find(b.docs[3], "NoOtherIdentityMayDeleteShippedAuditSegments")); /* no administrators */
    built_clean_up(&b);
}

static void trusted_is_written_by_the_mover_and_read_by_consumers(void **state)
{
    (void)state;
    struct built b;
    build(LOCAL, &b);
    json_t *tr = b.docs[2];
    assert_sids(tr, "MoverMayListTrusted,MoverMayPromoteIntoTrusted,ConsumersMayReadTrusted,ReviewersMayReadTrusted,"
                    "GrantsMayNotUseTrusted,ConsumersAndReviewersMayNotWriteTrusted," GUARDS);
    json_t *promote = must_find(tr, "MoverMayPromoteIntoTrusted");
    assert_strings(principals(promote), MOVER, NULL);
    assert_strings(resources(promote), "arn:aws:s3:::tr-bucket/out/reports/*", "arn:aws:s3:::tr-bucket/metrics/*",
                   NULL);
    assert_true(has_string(actions(promote), "s3:PutObject"));
    assert_false(has_string(actions(promote), "s3:DeleteObject")); /* promoted objects stay */

    json_t *read = must_find(tr, "ConsumersMayReadTrusted");
    assert_string_equal(effect(read), "Allow");
    assert_strings(principals(read), CONSUMER, CONSUMER2, NULL);
    assert_strings(actions(read), "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion",
                   NULL);
    assert_strings(resources(read), "arn:aws:s3:::tr-bucket", "arn:aws:s3:::tr-bucket/*", NULL);
    assert_strings(principals(must_find(tr, "ReviewersMayReadTrusted")), REVIEWER, NULL);

    json_t *grants = must_find(tr, "GrantsMayNotUseTrusted");
    assert_string_equal(effect(grants), "Deny");
    assert_strings(principals(grants), GRANTS, NULL);
    assert_strings(actions(grants), "s3:*", NULL);

    json_t *writes = must_find(tr, "ConsumersAndReviewersMayNotWriteTrusted");
    assert_string_equal(effect(writes), "Deny");
    assert_strings(principals(writes), CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(actions(writes), "s3:Put*", "s3:Delete*", "s3:AbortMultipartUpload", "s3:RestoreObject",
                   "s3:BypassGovernanceRetention", NULL);
    assert_strings(resources(writes), "arn:aws:s3:::tr-bucket", "arn:aws:s3:::tr-bucket/*", NULL);
    built_clean_up(&b);
}

/* Walks every statement of every document of `config` and checks the rules that hold
 * for all of them. */
static void check_invariants(const char *config)
{
    static const char *const known[] = { MOVER, GRANTS, CONSUMER, CONSUMER2, REVIEWER, TASK_ROLE, ADMIN };
    struct built b;
    build(config, &b);
    for (size_t d = 0; d < b.set.count; d++) {
        json_t *doc = b.docs[d];
        assert_true(json_array_size(statements(doc)) >= 3);
        size_t i;
        json_t *s;
        json_array_foreach(statements(doc), i, s) {
            const char *sid = json_string_value(json_object_get(s, "Sid"));
            assert_non_null(sid);
            for (const char *p = sid; *p; p++) /* AWS: Sid is [A-Za-z0-9] */
                assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
            for (size_t j = 0; j < i; j++) /* unique within the document */
                assert_string_not_equal(sid, json_string_value(json_object_get(json_array_get(statements(doc), j),
                                                                                "Sid")));
            /* radosgw ignores NotAction and NotPrincipal: neither is ever written */
            assert_null(json_object_get(s, "NotAction"));
            assert_null(json_object_get(s, "NotPrincipal"));
            assert_true(strcmp(effect(s), "Allow") == 0 || strcmp(effect(s), "Deny") == 0);
            assert_true(json_is_array(actions(s)) && json_array_size(actions(s)) > 0);
            json_t *principal = json_object_get(s, "Principal");
            if (json_is_string(principal)) {
                /* "*" only in a Deny that excepts named principals through aws:PrincipalArn */
                assert_string_equal(json_string_value(principal), "*");
                assert_string_equal(effect(s), "Deny");
                json_t *except = json_object_get(json_object_get(s, "Condition"), "ArnNotLike");
                assert_true(json_array_size(json_object_get(except, "aws:PrincipalArn")) > 0);
            } else {
                assert_true(json_is_array(principals(s)) && json_array_size(principals(s)) > 0);
                assert_int_equal(json_object_size(principal), 1);
                size_t k;
                json_t *arn;
                json_array_foreach(principals(s), k, arn) {
                    bool ok = false;
                    for (size_t n = 0; n < sizeof(known) / sizeof(known[0]); n++)
                        ok = ok || strcmp(json_string_value(arn), known[n]) == 0;
                    assert_true(ok); /* never someone not configured */
                    assert_string_not_equal(json_string_value(arn), ADMIN); /* administrators are never named */
                }
            }
            /* a Deny names the mover only for what it never does (SSE-C, bucket settings,
             * deleting a shipped audit segment);
             * an Allow never gives "s3:*" */
            if (strcmp(effect(s), "Deny") == 0 && principals(s) && has_string(principals(s), MOVER))
                assert_true(strcmp(sid, "NobodyMayWriteWithCustomerKeys") == 0 ||
                            strcmp(sid, "OnlyAdministratorsMayChangeBucketSettings") == 0 ||
                            strcmp(sid, "NobodyMayDeleteShippedAuditSegments") == 0);
            if (strcmp(effect(s), "Allow") == 0) assert_false(has_string(actions(s), "s3:*"));
            /* every resource is in this document's bucket */
            json_t *res = resources(s) ? resources(s) : json_object_get(s, "NotResource");
            assert_true(json_array_size(res) > 0);
            char bucket_arn[128];
            snprintf(bucket_arn, sizeof(bucket_arn), "arn:aws:s3:::%s", b.set.docs[d].bucket);
            size_t k;
            json_t *arn;
            json_array_foreach(res, k, arn) {
                const char *r = json_string_value(arn);
                size_t n = strlen(bucket_arn);
                assert_int_equal(strncmp(r, bucket_arn, n), 0);
                assert_true(r[n] == '\0' || r[n] == '/');
            }
        }
        assert_null(strstr(b.set.docs[d].json, "NotAction"));
    }
    built_clean_up(&b);
}

static void no_statement_uses_notaction_or_a_wildcard_principal(void **state)
{
    (void)state;
    check_invariants(LOCAL);
    check_invariants("{" HEAD BUCKETS "'identities': {'mover': '" MOVER "', 'grants': '" GRANTS
                     "', 'vpc_endpoints': ['vpce-1a2b3c4d']}}");
    check_invariants("{" HEAD "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', "
                     "'control': 'ctl-bucket'}, " IDENTITIES_ALL ", 'vpc_endpoints': ['vpce-1a2b3c4d']}}");
    check_invariants(WITH_STS);
}

static void vpc_endpoints_deny_other_paths_to_everyone_but_the_mover(void **state)
{
    (void)state;
    struct built b;
    build("{" HEAD BUCKETS IDENTITIES_ALL ", 'vpc_endpoints': ['vpce-1a2b3c4d', 'vpce-0123456789abcdef0']}}", &b);
    for (size_t d = 0; d < b.set.count; d++) {
        json_t *sts = statements(b.docs[d]);
        json_t *vpc = json_array_get(sts, json_array_size(sts) - 1); /* the last statement */
        assert_string_equal(json_string_value(json_object_get(vpc, "Sid")), "OnlyThroughTheVpcEndpoints");
        assert_string_equal(effect(vpc), "Deny");
        assert_strings(principals(vpc), GRANTS, CONSUMER, CONSUMER2, REVIEWER, NULL);
        assert_strings(actions(vpc), "s3:*", NULL);
        char bucket[80], objects[80];
        snprintf(bucket, sizeof(bucket), "arn:aws:s3:::%s", b.set.docs[d].bucket);
        snprintf(objects, sizeof(objects), "arn:aws:s3:::%s/*", b.set.docs[d].bucket);
        assert_strings(resources(vpc), bucket, objects, NULL);
        json_t *cond = json_object_get(vpc, "Condition");
        assert_int_equal(json_object_size(cond), 1);
        assert_strings(json_object_get(json_object_get(cond, "StringNotEqualsIfExists"), "aws:SourceVpce"),
                       "vpce-1a2b3c4d", "vpce-0123456789abcdef0", NULL);
    }
    built_clean_up(&b);

    build(LOCAL, &b); /* without endpoints: no such statement, no SourceVpce anywhere */
    for (size_t d = 0; d < b.set.count; d++) {
        assert_null(find(b.docs[d], "OnlyThroughTheVpcEndpoints"));
        assert_null(strstr(b.set.docs[d].json, "SourceVpce"));
    }
    built_clean_up(&b);
}

static void a_separate_control_bucket_gets_its_own_policy(void **state)
{
    (void)state;
    struct built b;
    build("{" HEAD "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', "
          "'control': 'ctl-bucket', 'control_prefix': 'state/'}, " IDENTITIES_ALL "}}",
          &b);
    assert_int_equal(b.set.count, 4);
    assert_string_equal(b.set.docs[3].bucket, "ctl-bucket");
    assert_int_equal(b.set.docs[3].role, POLICY_BUCKET_CONTROL);
    assert_sids(b.docs[1], "MoverMayListQuarantine,MoverMayUseQuarantineKeys,NobodyButTheMoverMayUseQuarantine," GUARDS);
    assert_strings(resources(must_find(b.docs[1], "MoverMayUseQuarantineKeys")), "arn:aws:s3:::qu-bucket/q/*", NULL);
    assert_sids(b.docs[3], "MoverMayListControl,MoverMayUseControlKeys,NobodyButTheMoverMayUseControl,"
                           "NobodyMayDeleteShippedAuditSegments," GUARDS);
    assert_strings(resources(must_find(b.docs[3], "MoverMayListControl")), "arn:aws:s3:::ctl-bucket", NULL);
    assert_strings(resources(must_find(b.docs[3], "MoverMayUseControlKeys")), "arn:aws:s3:::ctl-bucket/state/*", NULL);
    json_t *deny = must_find(b.docs[3], "NobodyButTheMoverMayUseControl");
    assert_strings(principals(deny), GRANTS, CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(resources(deny), "arn:aws:s3:::ctl-bucket", "arn:aws:s3:::ctl-bucket/*", NULL);
    built_clean_up(&b);

    /* The quarantine bucket named as control is the shared case: three documents. */
    build("{" HEAD "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', "
          "'control': 'qu-bucket', 'control_prefix': 'state/'}, " IDENTITIES_ALL "}}",
          &b);
    assert_int_equal(b.set.count, 3);
    assert_strings(resources(must_find(b.docs[1], "MoverMayUseQuarantineAndControlKeys")),
                   "arn:aws:s3:::qu-bucket/q/*", "arn:aws:s3:::qu-bucket/state/*", NULL);
    built_clean_up(&b);
}

static void statements_without_principals_are_left_out(void **state)
{
    (void)state;
    struct built b;
    build("{" HEAD BUCKETS "'identities': {'mover': '" MOVER "', 'grants': '" GRANTS "'}}", &b);
    assert_sids(b.docs[0], "MoverMayListStaging,MoverMayReadAndDeleteStagedObjects,GrantsMayOnlyPutIntoRoutePrefixes,"
                           "GrantsMustGiveTheBucketOwnerFullControl,GrantsMayNotPutOutsideRoutePrefixes,"
                           "GrantsMayNotReadListDeleteTagOrChangeAcls,NobodyButTheMoverMayUseObjectVersions,"
                           "NoOtherIdentityMayUseObjectVersions," GUARDS);
    assert_strings(principals(must_find(b.docs[1], "NobodyButTheMoverMayUseQuarantineOrControl")), GRANTS, NULL);
    assert_sids(b.docs[2], "MoverMayListTrusted,MoverMayPromoteIntoTrusted,GrantsMayNotUseTrusted," GUARDS);
    built_clean_up(&b);

    /* consumers only: no reviewer statement, and the shared denials name the consumer */
    build("{" HEAD BUCKETS "'identities': {'mover': '" MOVER "', 'grants': '" GRANTS "', 'consumers': ['" CONSUMER
          "']}}",
          &b);
    assert_null(find(b.docs[2], "ReviewersMayReadTrusted"));
    assert_strings(principals(must_find(b.docs[2], "ConsumersAndReviewersMayNotWriteTrusted")), CONSUMER, NULL);
    assert_strings(principals(must_find(b.docs[0], "ConsumersAndReviewersMayNotUseStaging")), CONSUMER, NULL);
    built_clean_up(&b);
}

static void resources_are_in_the_identities_partition(void **state)
{
    (void)state;
    struct built b;
    build("{" HEAD BUCKETS "'identities': {'mover': 'arn:aws-cn:iam::123456789012:role/sluice/mover', "
          "'grants': 'arn:aws-cn:iam::123456789012:role/sluice-grants', "
          "'consumers': ['arn:aws-cn:iam::210987654321:root']}}",
          &b);
    for (size_t d = 0; d < b.set.count; d++) {
        assert_null(strstr(b.set.docs[d].json, "arn:aws:"));
        assert_non_null(strstr(b.set.docs[d].json, "\"arn:aws-cn:s3:::"));
    }
    assert_strings(principals(must_find(b.docs[0], "MoverMayListStaging")), "arn:aws-cn:iam::123456789012:role/sluice/mover",
                   NULL);
    assert_strings(resources(must_find(b.docs[2], "ConsumersMayReadTrusted")), "arn:aws-cn:s3:::tr-bucket",
                   "arn:aws-cn:s3:::tr-bucket/*", NULL);
    built_clean_up(&b);
}


/* ---- STS, reference data, the ransomware and control-plane denials ---- */

static void the_task_role_is_denied_what_the_grants_identity_is(void **state)
{
    (void)state;
    struct built b;
    build(WITH_STS, &b);
    const char *st_denials[] = { "GrantsMustGiveTheBucketOwnerFullControl", "GrantsMayNotPutOutsideRoutePrefixes",
                                 "GrantsMayNotReadListDeleteTagOrChangeAcls" };
    for (size_t i = 0; i < 3; i++) assert_strings(principals(must_find(b.docs[0], st_denials[i])), GRANTS, TASK_ROLE, NULL);
    /* no Allow for the role in a bucket policy: its own permission policy allows, per session */
    assert_strings(principals(must_find(b.docs[0], "GrantsMayOnlyPutIntoRoutePrefixes")), GRANTS, NULL);
    assert_strings(principals(must_find(b.docs[1], "NobodyButTheMoverMayUseQuarantineOrControl")), GRANTS, TASK_ROLE,
                   CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(principals(must_find(b.docs[2], "GrantsMayNotUseTrusted")), GRANTS, TASK_ROLE, NULL);
    built_clean_up(&b);
}

static void every_bucket_refuses_customer_keys_and_settings_changes(void **state)
{
    (void)state;
    struct built b;
    build(WITH_STS, &b);
    for (size_t d = 0; d < b.set.count; d++) {
        char objects[80], bucket[80];
        snprintf(bucket, sizeof(bucket), "arn:aws:s3:::%s", b.set.docs[d].bucket);
        snprintf(objects, sizeof(objects), "arn:aws:s3:::%s/*", b.set.docs[d].bucket);
        json_t *ssec = must_find(b.docs[d], "NobodyMayWriteWithCustomerKeys");
        assert_string_equal(effect(ssec), "Deny");
        assert_strings(principals(ssec), MOVER, GRANTS, TASK_ROLE, CONSUMER, CONSUMER2, REVIEWER, NULL);
        assert_strings(actions(ssec), "s3:PutObject", NULL);
        assert_strings(resources(ssec), objects, NULL);
        /* StringLike "*", not Null "false": radosgw 16 reads Null as "absent" whatever the value */
        assert_string_equal(json_string_value(condition_of(ssec, "StringLike",
                                                           "s3:x-amz-server-side-encryption-customer-algorithm")),
                            "*");
        assert_int_equal(json_object_size(json_object_get(ssec, "Condition")), 1);

        json_t *settings = must_find(b.docs[d], "OnlyAdministratorsMayChangeBucketSettings");
        assert_strings(principals(settings), MOVER, GRANTS, TASK_ROLE, CONSUMER, CONSUMER2, REVIEWER, NULL);
        assert_strings(actions(settings), "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration",
                       "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration", "s3:PutObjectRetention",
                       "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention", NULL);
        assert_strings(resources(settings), bucket, objects, NULL);
        assert_null(json_object_get(settings, "Condition"));

        /* with administrators: everyone else too, where aws:PrincipalArn is evaluated (AWS) */
        json_t *all_ssec = must_find(b.docs[d], "NoOtherIdentityMayWriteWithCustomerKeys");
        assert_string_equal(json_string_value(json_object_get(all_ssec, "Principal")), "*");
        assert_strings(condition_of(all_ssec, "ArnNotLike", "aws:PrincipalArn"), ADMIN, NULL);
        assert_string_equal(json_string_value(condition_of(all_ssec, "StringLike",
                                                           "s3:x-amz-server-side-encryption-customer-algorithm")),
                            "*");
        json_t *all_settings = must_find(b.docs[d], "NoOtherIdentityMayChangeBucketSettings");
        assert_string_equal(json_string_value(json_object_get(all_settings, "Principal")), "*");
        assert_strings(condition_of(all_settings, "ArnNotLike", "aws:PrincipalArn"), ADMIN, NULL);
        assert_true(json_equal(actions(all_settings), actions(settings)));
    }
    built_clean_up(&b);
    build(LOCAL, &b); /* no administrators: no "*" statements for them */
    for (size_t d = 0; d < b.set.count; d++) {
        assert_null(find(b.docs[d], "NoOtherIdentityMayWriteWithCustomerKeys"));
        assert_null(find(b.docs[d], "NoOtherIdentityMayChangeBucketSettings"));
    }
    built_clean_up(&b);
}

static void staging_versions_are_the_movers_alone(void **state)
{
    (void)state;
    struct built b;
    build(WITH_STS, &b);
    json_t *named = must_find(b.docs[0], "NobodyButTheMoverMayUseObjectVersions");
    assert_string_equal(effect(named), "Deny");
    assert_strings(principals(named), GRANTS, TASK_ROLE, CONSUMER, CONSUMER2, REVIEWER, NULL);
    assert_strings(actions(named), "s3:DeleteObjectVersion", "s3:GetObjectVersion", "s3:GetObjectVersionAcl",
                   "s3:GetObjectVersionTagging", "s3:ListBucketVersions", NULL);
    assert_strings(resources(named), "arn:aws:s3:::st-bucket", "arn:aws:s3:::st-bucket/*", NULL);
    json_t *all = must_find(b.docs[0], "NoOtherIdentityMayUseObjectVersions");
    assert_string_equal(json_string_value(json_object_get(all, "Principal")), "*");
    assert_true(json_equal(actions(all), actions(named)));
    assert_strings(condition_of(all, "ArnNotLike", "aws:PrincipalArn"), MOVER, NULL);
    /* the mover keeps what it needs of versions */
    assert_true(has_string(actions(must_find(b.docs[0], "MoverMayReadAndDeleteStagedObjects")), "s3:DeleteObjectVersion"));
    assert_true(has_string(actions(must_find(b.docs[0], "MoverMayListStaging")), "s3:ListBucketVersions"));
    assert_true(has_string(actions(must_find(b.docs[0], "MoverMayListStaging")), "s3:GetBucketPolicy"));
    for (size_t d = 1; d < b.set.count; d++) assert_null(find(b.docs[d], "NobodyButTheMoverMayUseObjectVersions"));
    built_clean_up(&b);
}

static void reference_buckets_allow_exactly_the_allowlist(void **state)
{
    (void)state;
    struct built b;
    build(WITH_STS, &b);
    assert_int_equal(b.set.count, 5);
    assert_string_equal(b.set.docs[3].bucket, "ref-bucket");
    assert_int_equal(b.set.docs[3].role, POLICY_BUCKET_REFERENCE);
    assert_string_equal(b.set.docs[4].bucket, "ref-two");
    json_t *ref = b.docs[3];
    assert_sids(ref, "MoverMayCheckTheReferencePolicy,TasksMayReadTheAllowlistedObjects,TasksMayReadNothingElseThere,"
                     "TasksMayNotListOrChangeReferenceData," GUARDS
                     ",NoOtherIdentityMayWriteWithCustomerKeys,NoOtherIdentityMayChangeBucketSettings");
    json_t *allow = must_find(ref, "TasksMayReadTheAllowlistedObjects");
    assert_string_equal(effect(allow), "Allow");
    assert_strings(principals(allow), GRANTS, TASK_ROLE, NULL);
    assert_strings(actions(allow), "s3:GetObject", NULL);
    /* both routes' lists, each entry once; keys exact, prefixes with "*" */
    assert_strings(resources(allow), "arn:aws:s3:::ref-bucket/models/m1.bin", "arn:aws:s3:::ref-bucket/data/2026/*",
                   "arn:aws:s3:::ref-bucket/metrics/base.csv", NULL);
    json_t *rest = must_find(ref, "TasksMayReadNothingElseThere");
    assert_string_equal(effect(rest), "Deny");
    assert_strings(actions(rest), "s3:GetObject", NULL);
    assert_true(json_equal(json_object_get(rest, "NotResource"), resources(allow)));
    json_t *list = must_find(ref, "TasksMayNotListOrChangeReferenceData");
    assert_true(has_string(actions(list), "s3:List*"));
    assert_true(has_string(actions(list), "s3:Put*"));
    assert_true(has_string(actions(list), "s3:GetObjectVersion*"));
    assert_false(has_string(actions(list), "s3:GetObject"));
    assert_false(has_string(actions(list), "s3:Get*"));
    assert_strings(actions(must_find(ref, "MoverMayCheckTheReferencePolicy")), "s3:GetBucketVersioning",
                   "s3:GetBucketPolicy", NULL);
    assert_strings(resources(must_find(b.docs[4], "TasksMayReadTheAllowlistedObjects")), "arn:aws:s3:::ref-two/x.csv",
                   NULL);
    built_clean_up(&b);
}

static char *task_role(const char *config, policy_task_role_doc which)
{
    sl_config *c = load(config);
    char *text = NULL;
    assert_true(sl_ok(policy_task_role(c, which, &text)));
    sl_config_free(c);
    return text;
}

static void the_task_roles_documents(void **state)
{
    (void)state;
    char *trust = task_role(WITH_STS, POLICY_TASK_ROLE_TRUST);
    assert_string_equal(trust, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"TheGrantsIdentityMayAssumeTheTaskRole\","
                               "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" GRANTS "\"]},"
                               "\"Action\":[\"sts:AssumeRole\"]}]}");
    sl_free(trust);
    char *perms = task_role(WITH_STS, POLICY_TASK_ROLE_PERMISSIONS);
    /* only the routes with "sts": true, and only their reference keys */
    assert_string_equal(perms, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"TaskSessionsMayPutIntoStsRoutes\","
                               "\"Effect\":\"Allow\",\"Action\":[\"s3:PutObject\"],\"Resource\":["
                               "\"arn:aws:s3:::st-bucket/reports/*\",\"arn:aws:s3:::st-bucket/o/*\"]},"
                               "{\"Sid\":\"TaskSessionsMayReadTheReferenceAllowlists\",\"Effect\":\"Allow\","
                               "\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::ref-bucket/models/m1.bin\","
                               "\"arn:aws:s3:::ref-bucket/data/2026/*\",\"arn:aws:s3:::ref-bucket/metrics/base.csv\","
                               "\"arn:aws:s3:::ref-two/x.csv\"]}]}");
    sl_free(perms);

    /* the source identity needs sts:SetSourceIdentity in the trust policy (AWS) */
    const char *with_source =
        "{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, 'grants': {'sts': {'role_arn': '" TASK_ROLE
        "', 'source_identity': true}}, 'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', "
        "'sts': true}], " BUCKETS IDENTITIES_ALL "}}";
    trust = task_role(with_source, POLICY_TASK_ROLE_TRUST);
    assert_non_null(strstr(trust, "\"Action\":[\"sts:AssumeRole\",\"sts:SetSourceIdentity\"]"));
    sl_free(trust);
    perms = task_role(with_source, POLICY_TASK_ROLE_PERMISSIONS);
    assert_null(strstr(perms, "GetObject")); /* no reference data: no read at all */
    sl_free(perms);

    /* refusals */
    sl_config *c = load(LOCAL);
    char *text = NULL;
    assert_true(sl_failed(policy_task_role(c, POLICY_TASK_ROLE_TRUST, &text)));
    assert_non_null(strstr(sl_error_detail(), "no grants.sts section"));
    sl_config_free(c);
    c = load("{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, 'grants': {'sts': {'role_arn': '" TASK_ROLE
             "'}}, 'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/'}], " BUCKETS IDENTITIES_ALL
             "}}");
    assert_true(sl_failed(policy_task_role(c, POLICY_TASK_ROLE_PERMISSIONS, &text)));
    assert_non_null(strstr(sl_error_detail(), "no route has \"sts\": true"));
    assert_null(text);
    sl_config_free(c);
}

/* ---- errors ---- */

static void build_fails(const char *config, sl_error code, const char *detail_part)
{
    sl_config *c = load(config);
    policy_set set = { .count = 7 }; /* overwritten */
    sl_error_clear();
    assert_true(sl_failed(policy_build(c, &set)));
    assert_int_equal(sl_error_last(), code);
    if (strstr(sl_error_detail(), detail_part) == NULL)
        print_message("detail \"%s\" lacks \"%s\"\n", sl_error_detail(), detail_part);
    assert_non_null(strstr(sl_error_detail(), detail_part));
    assert_int_equal(set.count, 0);
    assert_null(set.docs);
    policy_set_clean_up(&set);
    sl_config_free(c);
}

static void errors_name_what_is_missing_or_wrong(void **state)
{
    (void)state;
    build_fails("{" HEAD BUCKETS "'log': {}}", SL_ERR_INVALID_ARGUMENT, "no \"identities\" section");
    build_fails("{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, " BUCKETS
                "'routes': [{'name': 'a', 'staging_prefix': 'a*/', 'trusted_prefix': 'a/'}], " IDENTITIES_ALL "}}",
                SL_ERR_INVALID_ARGUMENT, "routes[0].staging_prefix \"a*/\"");
    build_fails("{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, " BUCKETS
                "'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/'}, {'name': 'b', "
                "'staging_prefix': 'b/', 'trusted_prefix': 'b?/'}], " IDENTITIES_ALL "}}",
                SL_ERR_INVALID_ARGUMENT, "routes[1].trusted_prefix \"b?/\"");
    build_fails("{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, 'buckets': {'staging': 'st-bucket', "
                "'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', 'control_prefix': '${aws:username}/'}, "
                "'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/'}], " IDENTITIES_ALL "}}",
                SL_ERR_INVALID_ARGUMENT, "buckets.control_prefix \"${aws:username}/\"");

    /* 300 routes with long prefixes: the staging policy would pass S3's 20 KiB */
    char *big = sl_malloc(200000);
    size_t n = (size_t)sprintf(big, "{'s3': {'endpoint': 'http://h:1'}, 'audit': {'file': '/a'}, " BUCKETS
                                    IDENTITIES_ALL "}, 'routes': [");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(big + n, "%s{'name': 'r%d', 'staging_prefix': 'a-rather-long-staging-prefix-%03d/', "
                                      "'trusted_prefix': 't%d/'}",
                             i ? ", " : "", i, i, i);
    strcpy(big + n, "]}");
    build_fails(big, SL_ERR_LIMIT, "the policy of bucket st-bucket would be");
    sl_free(big);

    policy_set set;
    assert_true(sl_failed(policy_build(NULL, &set)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    policy_set_clean_up(NULL);
}

/* ---- the command ---- */

static char *write_temp_config(const char *single_quoted, char *path_out, size_t size)
{
    snprintf(path_out, size, "/tmp/sluice-test-policy-XXXXXX");
    int fd = mkstemp(path_out);
    assert_true(fd >= 0);
    char *json = sl_strdup(single_quoted);
    for (char *p = json; *p; p++)
        if (*p == '\'') *p = '"';
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    sl_free(json);
    return path_out;
}

static int run_command(const char *file, const char *dir, char **out_text, char **err_text)
{
    size_t out_len, err_len;
    FILE *out = open_memstream(out_text, &out_len);
    FILE *err = open_memstream(err_text, &err_len);
    int rc = policy_command(file, dir, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = sl_calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void command_prints_one_object_keyed_by_bucket(void **state)
{
    (void)state;
    char file[64];
    write_temp_config(LOCAL, file, sizeof(file));
    char *out = NULL, *err = NULL;
    assert_int_equal(run_command(file, NULL, &out, &err), 0);
    assert_string_equal(err, "");
    json_error_t e;
    json_t *all = json_loads(out, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(all);
    assert_int_equal(json_object_size(all), 3);
    /* one bucket a line, each document as policy_build writes it */
    struct built b;
    build(LOCAL, &b);
    for (size_t i = 0; i < b.set.count; i++) {
        char line[32768];
        snprintf(line, sizeof(line), "\n  \"%s\": %s%s\n", b.set.docs[i].bucket, b.set.docs[i].json,
                 i + 1 < b.set.count ? "," : "");
        assert_non_null(strstr(out, line));
        assert_true(json_equal(json_object_get(all, b.set.docs[i].bucket), b.docs[i]));
    }
    assert_int_equal(strncmp(out, "{\n", 2), 0);
    built_clean_up(&b);
    json_decref(all);
    free(out);
    free(err);
    unlink(file);
}

static void command_writes_one_file_per_bucket(void **state)
{
    (void)state;
    char file[64], dir[64];
    write_temp_config("{" HEAD "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket', "
                      "'control': 'ctl-bucket'}, " IDENTITIES_ALL "}}",
                      file, sizeof(file));
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-policies-%d", (int)getpid());
    char *out = NULL, *err = NULL;
    assert_int_equal(run_command(file, dir, &out, &err), 0); /* the folder is created */
    assert_string_equal(err, "");
    char want[512];
    snprintf(want, sizeof(want), "st-bucket %s/st-bucket.json\nqu-bucket %s/qu-bucket.json\ntr-bucket %s/tr-bucket.json\n"
                                 "ctl-bucket %s/ctl-bucket.json\n",
             dir, dir, dir, dir);
    assert_string_equal(out, want);
    free(out);
    free(err);

    sl_config *c = NULL;
    assert_true(sl_ok(sl_config_load(file, &c, NULL)));
    policy_set set;
    assert_true(sl_ok(policy_build(c, &set)));
    for (size_t i = 0; i < set.count; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s.json", dir, set.docs[i].bucket);
        char *text = read_text(path);
        size_t len = strlen(set.docs[i].json);
        assert_int_equal(strlen(text), len + 1); /* the document and a newline */
        assert_memory_equal(text, set.docs[i].json, len);
        assert_int_equal(text[len], '\n');
        sl_free(text);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        unlink(path);
    }
    /* a second run replaces the files; nothing else is left in the folder */
    assert_int_equal(run_command(file, dir, &out, &err), 0);
    free(out);
    free(err);
    for (size_t i = 0; i < set.count; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s.json", dir, set.docs[i].bucket);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(rmdir(dir), 0); /* empty: no temporary file was left */
    policy_set_clean_up(&set);
    sl_config_free(c);

    /* a file where the folder should be */
    assert_int_equal(run_command(file, file, &out, &err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "is not a folder"));
    free(out);
    free(err);
    unlink(file);
}

static void command_refuses_a_config_without_identities_or_with_errors(void **state)
{
    (void)state;
    char file[64];
    write_temp_config("{" HEAD BUCKETS "'log': {}}", file, sizeof(file));
    char *out = NULL, *err = NULL;
    assert_int_equal(run_command(file, NULL, &out, &err), 1);
    assert_string_equal(out, "");
    char want[256];
    snprintf(want, sizeof(want), "sluice-mover policy: %s: the configuration has no \"identities\" section", file);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_int_equal(err[strlen(err) - 1], '\n');
    free(out);
    free(err);
    unlink(file);

    write_temp_config("{" HEAD BUCKETS "'identities': {'mover': 'mover', 'grants': '" GRANTS "'}, 'worker': {'x': 1}}",
                      file, sizeof(file));
    assert_int_equal(run_command(file, NULL, &out, &err), 1);
    assert_string_equal(out, "");
    char expect[1024];
    snprintf(expect, sizeof(expect),
             "%s: identities.mover: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" "
             "or, on radosgw, \"arn:aws:iam:::user/mover\", got \"mover\"\n"
             "%s: worker.x: unknown key (known keys: poll_interval, poll_jitter, concurrency, check_in_place, stall_after, poll_idle_max)\n2 errors\n",
             file, file);
    assert_string_equal(err, expect);
    free(out);
    free(err);
    unlink(file);

    assert_int_equal(run_command("/nonexistent-sluice-test/sluice.json", NULL, &out, &err), 1);
    assert_string_equal(err, "/nonexistent-sluice-test/sluice.json: cannot open: No such file or directory\n1 error\n");
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_document_per_bucket_in_order),
        cmocka_unit_test(staging_lets_grants_only_put_under_route_prefixes),
        cmocka_unit_test(quarantine_is_the_movers_alone),
        cmocka_unit_test(shipped_audit_segments_are_never_deleted),
        cmocka_unit_test(trusted_is_written_by_the_mover_and_read_by_consumers),
        cmocka_unit_test(no_statement_uses_notaction_or_a_wildcard_principal),
        cmocka_unit_test(vpc_endpoints_deny_other_paths_to_everyone_but_the_mover),
        cmocka_unit_test(a_separate_control_bucket_gets_its_own_policy),
        cmocka_unit_test(statements_without_principals_are_left_out),
        cmocka_unit_test(resources_are_in_the_identities_partition),
        cmocka_unit_test(errors_name_what_is_missing_or_wrong),
        cmocka_unit_test(the_task_role_is_denied_what_the_grants_identity_is),
        cmocka_unit_test(every_bucket_refuses_customer_keys_and_settings_changes),
        cmocka_unit_test(staging_versions_are_the_movers_alone),
        cmocka_unit_test(reference_buckets_allow_exactly_the_allowlist),
        cmocka_unit_test(the_task_roles_documents),
        cmocka_unit_test(command_prints_one_object_keyed_by_bucket),
        cmocka_unit_test(command_writes_one_file_per_bucket),
        cmocka_unit_test(command_refuses_a_config_without_identities_or_with_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * policy.c — building the bucket policies of policy.h with jansson, and the `policy`
 * command (contract: policy.h; what each statement is for: docs/policies.md).
 *
 * How the parts fit: the action lists are tables at the top, one per kind of access, so
 * that what each principal may do reads in one place. `statement()` assembles one
 * statement with its keys always in the order Sid, Effect, Principal, Action,
 * Resource | NotResource, Condition. One builder per bucket (build_staging,
 * build_mover_only for quarantine and control, build_trusted) appends its statements;
 * a statement whose principal list would be empty (no consumers, say) is left out.
 * Denials are Deny statements with Action lists: radosgw ignores NotAction (a statement
 * written with it matches no request), and it lets an uploader read, tag and re-ACL its
 * own objects unless an explicit Deny says otherwise (docs/policies.md, "radosgw").
 *
 * Out of memory: jansson's constructors return NULL only when malloc fails; as for the
 * rest of sluice (util/alloc.h), that aborts the process (`must`).
 */
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/buf.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------- */
/* What each principal may do: the action tables                                      */
/* ---------------------------------------------------------------------------------- */

/* The mover on the bucket resource of every bucket: listing and what its S3 client asks. */
static const char *const mover_bucket_actions[] = {
    "s3:ListBucket",         "s3:ListBucketVersions",  "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",  "s3:GetBucketVersioning", "s3:GetBucketPolicy",
};

/* The mover on a reference bucket: only what `policy --check` reads. */
static const char *const mover_check_actions[] = { "s3:GetBucketVersioning", "s3:GetBucketPolicy" };

/* The mover on staged objects: read them (GET, the source of CopyObject), delete them. */
static const char *const mover_staging_object_actions[] = {
    "s3:GetObject",    "s3:GetObjectVersion",    "s3:GetObjectTagging",         "s3:GetObjectVersionTagging",
    "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
};

/* The mover on quarantine and control keys: everything it does there. */
static const char *const mover_work_object_actions[] = {
    "s3:GetObject",    "s3:GetObjectVersion",    "s3:GetObjectTagging",         "s3:GetObjectVersionTagging",
    "s3:PutObject",    "s3:PutObjectTagging",    "s3:DeleteObject",             "s3:DeleteObjectVersion",
    "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
};

/* The mover on trusted keys: promote (copy in, multipart included) and read back; never
 * delete — a promoted object is not removed by sluice. */
static const char *const mover_trusted_object_actions[] = {
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",         "s3:GetObjectVersionTagging",
    "s3:PutObject", "s3:PutObjectTagging", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
};

/* Consumers and reviewers on trusted: list and read (HEAD is GetObject; the attestation
 * is in the object's metadata). */
static const char *const reader_actions[] = {
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:GetObjectVersion",
};

static const char *const put_object[] = { "s3:PutObject" };
static const char *const get_object[] = { "s3:GetObject" };
static const char *const all_actions[] = { "s3:*" };

/* The grants identity in staging: every action but s3:PutObject. The wildcards cover
 * each family whole (GetObject, GetObjectAcl, GetObjectTagging, GetBucketPolicy, ...);
 * the Put* actions are named one by one because "s3:Put*" would match PutObject too.
 * This is the Deny that overrides radosgw's uploader rights. */
static const char *const grants_staging_denied[] = {
    "s3:Get*",
    "s3:List*",
    "s3:Delete*",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutBucket*",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:PutAccelerateConfiguration",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
};

/* Consumers and reviewers in trusted: every write, of objects and of bucket settings. */
static const char *const trusted_writes[] = {
    "s3:Put*", "s3:Delete*", "s3:AbortMultipartUpload", "s3:RestoreObject", "s3:BypassGovernanceRetention",
};

/* Tasks (the grants identity, STS sessions) on a reference bucket: every action but
 * GetObject, which the allowlist statements govern. */
static const char *const reference_denied[] = {
    "s3:List*",        "s3:Put*",          "s3:Delete*",           "s3:GetObjectAcl",
    "s3:GetObjectTagging", "s3:GetObjectVersion*", "s3:GetObjectRetention", "s3:GetObjectLegalHold",
    "s3:GetObjectTorrent", "s3:GetBucket*",     "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration",
    "s3:GetAccelerateConfiguration", "s3:AbortMultipartUpload", "s3:RestoreObject",
};

/* Bucket settings that only an administrator may change, on every bucket: the policy
 * itself, lifecycle (expiry can delete everything), versioning, object lock, retention
 * and legal holds (a ransomware lever: lock the victim out of its own objects). */
static const char *const settings_actions[] = {
    "s3:PutBucketPolicy",         "s3:DeleteBucketPolicy",      "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",     "s3:PutBucketObjectLockConfiguration", "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",      "s3:BypassGovernanceRetention",
};

/* Shipped audit segments (<control_prefix>audit/): written once with If-None-Match and
 * never deleted by sluice (audit/ship.h), so nobody but an administrator may delete one —
 * the mover included, whose other control keys (manifests, the probe's scratch keys) it
 * deletes. */
static const char *const audit_delete_actions[] = { "s3:DeleteObject", "s3:DeleteObjectVersion" };

/* Object versions in staging (versioned, so that the mover deletes exactly the version
 * it checked): only the mover may read, list or delete them. */
static const char *const version_actions[] = {
    "s3:DeleteObjectVersion", "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
    "s3:ListBucketVersions",
};

#define BOFC "bucket-owner-full-control"
/* The condition key of writes with a customer-provided key (SSE-C). */
#define SSEC_KEY "s3:x-amz-server-side-encryption-customer-algorithm"

/* ---------------------------------------------------------------------------------- */
/* JSON helpers                                                                        */
/* ---------------------------------------------------------------------------------- */

static json_t *must(json_t *j)
{
    if (j == NULL) {
        fprintf(stderr, "sluice: policy: out of memory\n");
        abort();
    }
    return j;
}

static void put(json_t *object, const char *key, json_t *value)
{
    if (json_object_set_new(object, key, must(value)) != 0) must(NULL);
}

static void push(json_t *array, json_t *value)
{
    if (json_array_append_new(array, must(value)) != 0) must(NULL);
}

static json_t *strings(const char *const *items, size_t count)
{
    json_t *a = must(json_array());
    for (size_t i = 0; i < count; i++) push(a, json_string(items[i]));
    return a;
}

/* ---------------------------------------------------------------------------------- */
/* Principals and resources                                                            */
/* ---------------------------------------------------------------------------------- */

/* TASKS: the role tasks' STS sessions assume (grants.sts.role_arn), when configured.
 * EVERYONE: "Principal": "*" (only in Deny statements with an exception condition). */
enum who { MOVER = 1, GRANTS = 2, CONSUMERS = 4, REVIEWERS = 8, TASKS = 16, EVERYONE = 32 };
#define OTHERS (GRANTS | TASKS | CONSUMERS | REVIEWERS)
#define CONFIGURED (MOVER | OTHERS)

struct builder {
    const sl_config *config;
    char partition[32]; /* of the identities' ARNs: "aws", "aws-cn", ... */
};

static void push_all(json_t *array, char *const *items, size_t count)
{
    for (size_t i = 0; i < count; i++) push(array, json_string(items[i]));
}

/* {"AWS": [ARNs of `who`]} in the order mover, grants, task role, consumers, reviewers;
 * "*" for EVERYONE; NULL when that is nobody. */
static json_t *principal(const struct builder *b, unsigned who)
{
    const sl_config *c = b->config;
    if (who == EVERYONE) return must(json_string("*"));
    json_t *arns = must(json_array());
    if (who & MOVER) push(arns, json_string(c->identities.mover));
    if (who & GRANTS) push(arns, json_string(c->identities.grants));
    if ((who & TASKS) && c->grants.sts.present && c->grants.sts.role_arn != NULL)
        push(arns, json_string(c->grants.sts.role_arn));
    if (who & CONSUMERS) push_all(arns, c->identities.consumers, c->identities.consumer_count);
    if (who & REVIEWERS) push_all(arns, c->identities.reviewers, c->identities.reviewer_count);
    if (json_array_size(arns) == 0) {
        json_decref(arns);
        return NULL;
    }
    json_t *p = must(json_object());
    put(p, "AWS", arns);
    return p;
}

static json_t *bucket_arn(const struct builder *b, const char *bucket)
{
    return must(json_sprintf("arn:%s:s3:::%s", b->partition, bucket));
}

/* The objects under `prefix` ("" for every object). */
static json_t *objects_arn(const struct builder *b, const char *bucket, const char *prefix)
{
    return must(json_sprintf("arn:%s:s3:::%s/%s*", b->partition, bucket, prefix));
}

/* [bucket, bucket/ *]: every request on the bucket. */
static json_t *whole_bucket(const struct builder *b, const char *bucket)
{
    json_t *r = must(json_array());
    push(r, bucket_arn(b, bucket));
    push(r, objects_arn(b, bucket, ""));
    return r;
}

static json_t *one(json_t *value)
{
    json_t *a = must(json_array());
    push(a, value);
    return a;
}

enum prefix_kind { STAGING_PREFIXES, TRUSTED_PREFIXES };

/* The objects under every route's staging (or trusted) prefix. */
static json_t *route_objects(const struct builder *b, const char *bucket, enum prefix_kind kind)
{
    json_t *r = must(json_array());
    for (size_t i = 0; i < b->config->route_count; i++) {
        const sl_config_route *route = &b->config->routes[i];
        push(r, objects_arn(b, bucket, kind == STAGING_PREFIXES ? route->staging_prefix : route->trusted_prefix));
    }
    return r;
}

/* {"<op>": {"<key>": value}} */
static json_t *condition(const char *op, const char *key, json_t *value)
{
    json_t *inner = must(json_object());
    put(inner, key, value);
    json_t *c = must(json_object());
    put(c, op, inner);
    return c;
}

/* Appends one statement to `list`, or nothing when `who` names nobody (the resources
 * and condition are released then). `resource_key` is "Resource" or "NotResource". */
static void statement(const struct builder *b, json_t *list, const char *sid, const char *effect, unsigned who,
                      const char *const *actions, size_t action_count, const char *resource_key, json_t *resources,
                      json_t *cond)
{
    json_t *p = principal(b, who);
    if (p == NULL) {
        json_decref(resources);
        json_decref(cond);
        return;
    }
    json_t *s = must(json_object());
    put(s, "Sid", json_string(sid));
    put(s, "Effect", json_string(effect));
    put(s, "Principal", p);
    put(s, "Action", strings(actions, action_count));
    put(s, resource_key, resources);
    if (cond != NULL) put(s, "Condition", cond);
    push(list, s);
}

/* With identities.vpc_endpoints: everyone configured but the mover is denied every
 * request on the bucket that does not come through one of the endpoints.
 * StringNotEqualsIfExists, not StringNotEquals: AWS treats both alike (a request from
 * outside any VPC endpoint has no aws:SourceVpce, and both deny it), but radosgw
 * evaluates a plain StringNotEquals on a missing key as false — the Deny would never
 * apply there — while the IfExists form denies, as AWS does. */
static void vpc_statement(const struct builder *b, json_t *list, const char *bucket)
{
    const sl_config *c = b->config;
    if (c->identities.vpc_endpoint_count == 0) return;
    json_t *ids = must(json_array());
    push_all(ids, c->identities.vpc_endpoints, c->identities.vpc_endpoint_count);
    statement(b, list, "OnlyThroughTheVpcEndpoints", "Deny", OTHERS, all_actions, COUNT(all_actions), "Resource",
              whole_bucket(b, bucket), condition("StringNotEqualsIfExists", "aws:SourceVpce", ids));
}

/* {"StringLike": {SSE-C key: "*"}}: true exactly when the request names a customer key.
 * (Not the "Null": "false" form of AWS's examples: radosgw 16 evaluates Null as "the key
 * is absent" whatever its value, so that form would deny every write there.) */
static json_t *ssec_condition(void) { return condition("StringLike", SSEC_KEY, must(json_string("*"))); }

/* Adds {"ArnNotLike": {"aws:PrincipalArn": [arns]}} to `cond` (created when NULL). */
static json_t *except_principals(json_t *cond, char *const *arns, size_t count, const char *also)
{
    json_t *list = must(json_array());
    if (also != NULL) push(list, json_string(also));
    push_all(list, arns, count);
    json_t *inner = must(json_object());
    put(inner, "aws:PrincipalArn", list);
    if (cond == NULL) cond = must(json_object());
    put(cond, "ArnNotLike", inner);
    return cond;
}

/* The denials every bucket carries: writes with customer-provided keys (SSE-C, the
 * Codefinger technique) and changes to the bucket's settings. Named statements for every
 * configured identity (radosgw evaluates these); with identities.administrators also a
 * "*" statement with the administrators as the exception (AWS evaluates aws:PrincipalArn
 * and so covers identities sluice does not know; radosgw 16 does not set that key, so
 * there the statement matches nothing and the named ones do the work). */
static void guard_statements(const struct builder *b, json_t *list, const char *bucket)
{
    const sl_config *c = b->config;
    statement(b, list, "NobodyMayWriteWithCustomerKeys", "Deny", CONFIGURED, put_object, COUNT(put_object),
              "Resource", one(objects_arn(b, bucket, "")), ssec_condition());
    statement(b, list, "OnlyAdministratorsMayChangeBucketSettings", "Deny", CONFIGURED, settings_actions,
              COUNT(settings_actions), "Resource", whole_bucket(b, bucket), NULL);
    if (c->identities.administrator_count == 0) return;
    statement(b, list, "NoOtherIdentityMayWriteWithCustomerKeys", "Deny", EVERYONE, put_object, COUNT(put_object),
              "Resource", one(objects_arn(b, bucket, "")),
              except_principals(ssec_condition(), c->identities.administrators, c->identities.administrator_count,
                                NULL));
    statement(b, list, "NoOtherIdentityMayChangeBucketSettings", "Deny", EVERYONE, settings_actions,
              COUNT(settings_actions), "Resource", whole_bucket(b, bucket),
              except_principals(NULL, c->identities.administrators, c->identities.administrator_count, NULL));
}

/* Nobody deletes a shipped audit segment: the configured identities by name (radosgw
 * evaluates these), and with identities.administrators everyone but them (AWS). */
static void audit_statements(const struct builder *b, json_t *list, const char *bucket)
{
    const sl_config *c = b->config;
    json_t *segments = must(json_sprintf("arn:%s:s3:::%s/%s" SL_AUDIT_KEY_FOLDER "*", b->partition, bucket,
                                         c->buckets.control_prefix));
    statement(b, list, "NobodyMayDeleteShippedAuditSegments", "Deny", CONFIGURED, audit_delete_actions,
              COUNT(audit_delete_actions), "Resource", one(json_incref(segments)), NULL);
    if (c->identities.administrator_count > 0)
        statement(b, list, "NoOtherIdentityMayDeleteShippedAuditSegments", "Deny", EVERYONE, audit_delete_actions,
                  COUNT(audit_delete_actions), "Resource", one(json_incref(segments)),
                  except_principals(NULL, c->identities.administrators, c->identities.administrator_count, NULL));
    json_decref(segments);
}

/* ---------------------------------------------------------------------------------- */
/* The documents                                                                       */
/* ---------------------------------------------------------------------------------- */

static void build_staging(const struct builder *b, json_t *list)
{
    const char *bucket = b->config->buckets.staging;
    statement(b, list, "MoverMayListStaging", "Allow", MOVER, mover_bucket_actions, COUNT(mover_bucket_actions),
              "Resource", one(bucket_arn(b, bucket)), NULL);
    statement(b, list, "MoverMayReadAndDeleteStagedObjects", "Allow", MOVER, mover_staging_object_actions,
              COUNT(mover_staging_object_actions), "Resource", route_objects(b, bucket, STAGING_PREFIXES), NULL);
    /* bucket-owner-full-control makes the bucket owner (the mover) a full owner of each
     * upload: on radosgw an object another user uploaded is otherwise not the owner's
     * to read. The Deny below enforces it; the Allow's condition is ...IfExists because
     * radosgw sets s3:x-amz-acl for a PUT (empty without the header) but not for a
     * browser-form POST, whose "acl" field the grant's signed POST policy fixes. */
    statement(b, list, "GrantsMayOnlyPutIntoRoutePrefixes", "Allow", GRANTS, put_object, COUNT(put_object),
              "Resource", route_objects(b, bucket, STAGING_PREFIXES),
              condition("StringEqualsIfExists", "s3:x-amz-acl", json_string(BOFC)));
    statement(b, list, "GrantsMustGiveTheBucketOwnerFullControl", "Deny", GRANTS | TASKS, put_object, COUNT(put_object),
              "Resource", one(objects_arn(b, bucket, "")),
              condition("StringNotEquals", "s3:x-amz-acl", json_string(BOFC)));
    /* Explicit, so that no other grant (an identity policy on AWS, an ACL) can widen it. */
    statement(b, list, "GrantsMayNotPutOutsideRoutePrefixes", "Deny", GRANTS | TASKS, put_object, COUNT(put_object),
              "NotResource", route_objects(b, bucket, STAGING_PREFIXES), NULL);
    statement(b, list, "GrantsMayNotReadListDeleteTagOrChangeAcls", "Deny", GRANTS | TASKS, grants_staging_denied,
              COUNT(grants_staging_denied), "Resource", whole_bucket(b, bucket), NULL);
    statement(b, list, "ConsumersAndReviewersMayNotUseStaging", "Deny", CONSUMERS | REVIEWERS, all_actions,
              COUNT(all_actions), "Resource", whole_bucket(b, bucket), NULL);
    /* Versioned staging: a version is what the mover checked; nobody else reads, lists
     * or deletes versions (named identities, and on AWS everyone but the mover). */
    statement(b, list, "NobodyButTheMoverMayUseObjectVersions", "Deny", OTHERS, version_actions,
              COUNT(version_actions), "Resource", whole_bucket(b, bucket), NULL);
    statement(b, list, "NoOtherIdentityMayUseObjectVersions", "Deny", EVERYONE, version_actions,
              COUNT(version_actions), "Resource", whole_bucket(b, bucket),
              except_principals(NULL, NULL, 0, b->config->identities.mover));
    guard_statements(b, list, bucket);
    vpc_statement(b, list, bucket);
}

/* Quarantine (with the control prefix when `with_control`) or a separate control
 * bucket: the mover's alone. */
static void build_mover_only(const struct builder *b, json_t *list, policy_bucket role, bool with_control)
{
    const sl_config *c = b->config;
    const char *bucket = role == POLICY_BUCKET_CONTROL ? c->buckets.control : c->buckets.quarantine;
    const char *list_sid, *use_sid, *deny_sid;
    json_t *keys = must(json_array());
    if (role == POLICY_BUCKET_CONTROL) {
        list_sid = "MoverMayListControl";
        use_sid = "MoverMayUseControlKeys";
        deny_sid = "NobodyButTheMoverMayUseControl";
        push(keys, objects_arn(b, bucket, c->buckets.control_prefix));
    } else if (with_control) {
        list_sid = "MoverMayListQuarantineAndControl";
        use_sid = "MoverMayUseQuarantineAndControlKeys";
        deny_sid = "NobodyButTheMoverMayUseQuarantineOrControl";
        push(keys, objects_arn(b, bucket, SL_QUARANTINE_KEY_PREFIX));
        push(keys, objects_arn(b, bucket, c->buckets.control_prefix));
    } else {
        list_sid = "MoverMayListQuarantine";
        use_sid = "MoverMayUseQuarantineKeys";
        deny_sid = "NobodyButTheMoverMayUseQuarantine";
        push(keys, objects_arn(b, bucket, SL_QUARANTINE_KEY_PREFIX));
    }
    statement(b, list, list_sid, "Allow", MOVER, mover_bucket_actions, COUNT(mover_bucket_actions), "Resource",
              one(bucket_arn(b, bucket)), NULL);
    statement(b, list, use_sid, "Allow", MOVER, mover_work_object_actions, COUNT(mover_work_object_actions),
              "Resource", keys, NULL);
    statement(b, list, deny_sid, "Deny", OTHERS, all_actions, COUNT(all_actions), "Resource",
              whole_bucket(b, bucket), NULL);
    if (role == POLICY_BUCKET_CONTROL || with_control) audit_statements(b, list, bucket);
    guard_statements(b, list, bucket);
    vpc_statement(b, list, bucket);
}

static void build_trusted(const struct builder *b, json_t *list)
{
    const char *bucket = b->config->buckets.trusted;
    statement(b, list, "MoverMayListTrusted", "Allow", MOVER, mover_bucket_actions, COUNT(mover_bucket_actions),
              "Resource", one(bucket_arn(b, bucket)), NULL);
    statement(b, list, "MoverMayPromoteIntoTrusted", "Allow", MOVER, mover_trusted_object_actions,
              COUNT(mover_trusted_object_actions), "Resource", route_objects(b, bucket, TRUSTED_PREFIXES), NULL);
    statement(b, list, "ConsumersMayReadTrusted", "Allow", CONSUMERS, reader_actions, COUNT(reader_actions),
              "Resource", whole_bucket(b, bucket), NULL);
    statement(b, list, "ReviewersMayReadTrusted", "Allow", REVIEWERS, reader_actions, COUNT(reader_actions),
              "Resource", whole_bucket(b, bucket), NULL);
    statement(b, list, "GrantsMayNotUseTrusted", "Deny", GRANTS | TASKS, all_actions, COUNT(all_actions), "Resource",
              whole_bucket(b, bucket), NULL);
    statement(b, list, "ConsumersAndReviewersMayNotWriteTrusted", "Deny", CONSUMERS | REVIEWERS, trusted_writes,
              COUNT(trusted_writes), "Resource", whole_bucket(b, bucket), NULL);
    guard_statements(b, list, bucket);
    vpc_statement(b, list, bucket);
}

/* Appends `value` (taken) to `array` unless an equal value is there already. */
static void push_unique(json_t *array, json_t *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(array, i, e) {
        if (json_equal(e, value)) {
            json_decref(value);
            return;
        }
    }
    push(array, value);
}

/* The allowlisted objects of every route whose reference bucket is `bucket`: exact keys
 * and prefixes ("prefix*"), each once, in route order. */
static json_t *reference_objects(const struct builder *b, const char *bucket)
{
    json_t *r = must(json_array());
    for (size_t i = 0; i < b->config->route_count; i++) {
        const sl_config_reference *ref = &b->config->routes[i].reference;
        if (!ref->present || strcmp(ref->bucket, bucket) != 0) continue;
        for (size_t k = 0; k < ref->key_count + ref->prefix_count; k++) {
            push_unique(r, k < ref->key_count
                               ? must(json_sprintf("arn:%s:s3:::%s/%s", b->partition, bucket, ref->keys[k]))
                               : objects_arn(b, bucket, ref->prefixes[k - ref->key_count]));
        }
    }
    return r;
}

/* A reference bucket: the tasks' identities (the grants identity that signs presigned
 * GETs, the STS role) may GetObject exactly the allowlisted objects and nothing else:
 * no listing, no other key, no write. The mover may only read the policy and versioning
 * (`policy --check`). Whoever fills the bucket keeps its own rights. */
static void build_reference(const struct builder *b, json_t *list, const char *bucket)
{
    statement(b, list, "MoverMayCheckTheReferencePolicy", "Allow", MOVER, mover_check_actions,
              COUNT(mover_check_actions), "Resource", one(bucket_arn(b, bucket)), NULL);
    statement(b, list, "TasksMayReadTheAllowlistedObjects", "Allow", GRANTS | TASKS, get_object, COUNT(get_object),
              "Resource", reference_objects(b, bucket), NULL);
    statement(b, list, "TasksMayReadNothingElseThere", "Deny", GRANTS | TASKS, get_object, COUNT(get_object),
              "NotResource", reference_objects(b, bucket), NULL);
    statement(b, list, "TasksMayNotListOrChangeReferenceData", "Deny", GRANTS | TASKS, reference_denied,
              COUNT(reference_denied), "Resource", whole_bucket(b, bucket), NULL);
    guard_statements(b, list, bucket);
    vpc_statement(b, list, bucket);
}

/* A prefix goes into Resource ARNs as written: "*" and "?" would be wildcards there,
 * "${" a policy variable. */
static sl_result check_prefix(const char *what, const char *prefix)
{
    ENSURE(strpbrk(prefix, "*?") == NULL && strstr(prefix, "${") == NULL, SL_ERR_INVALID_ARGUMENT,
           "%s \"%s\" holds \"*\", \"?\" or \"${\", which a bucket policy's Resource would read as a wildcard or a "
           "variable; choose a prefix without them",
           what, prefix);
    return SL_SUCCESS;
}

static sl_result check_prefixes(const sl_config *c)
{
    char what[96];
    for (size_t i = 0; i < c->route_count; i++) {
        snprintf(what, sizeof(what), "routes[%zu].staging_prefix", i);
        GUARD(check_prefix(what, c->routes[i].staging_prefix));
        snprintf(what, sizeof(what), "routes[%zu].trusted_prefix", i);
        GUARD(check_prefix(what, c->routes[i].trusted_prefix));
    }
    for (size_t i = 0; i < c->route_count; i++) {
        const sl_config_reference *ref = &c->routes[i].reference;
        for (size_t k = 0; ref->present && k < ref->key_count; k++) {
            snprintf(what, sizeof(what), "routes[%zu].reference.keys[%zu]", i, k);
            GUARD(check_prefix(what, ref->keys[k]));
        }
        for (size_t k = 0; ref->present && k < ref->prefix_count; k++) {
            snprintf(what, sizeof(what), "routes[%zu].reference.prefixes[%zu]", i, k);
            GUARD(check_prefix(what, ref->prefixes[k]));
        }
    }
    return check_prefix("buckets.control_prefix", c->buckets.control_prefix);
}

/* Compact JSON of {"Version", "Statement": statements} (taken), as a new string. */
static char *document_text(json_t *statements)
{
    json_t *root = must(json_object());
    put(root, "Version", json_string("2012-10-17"));
    put(root, "Statement", statements);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL) must(NULL);
    char *copy = sl_strdup(text);
    free(text);
    return copy;
}

/* The document around `statements` (which it takes), dumped compact into `doc`. */
static sl_result finish_document(policy_doc *doc, policy_bucket role, const char *bucket, json_t *statements)
{
    char *text = document_text(statements);
    size_t len = strlen(text);
    if (len > POLICY_MAX_BYTES) {
        sl_free(text);
        RAISE(SL_ERR_LIMIT, "the policy of bucket %s would be %zu bytes; S3 accepts at most %d (fewer routes, or "
                            "shorter prefixes and ARNs)", bucket, len, POLICY_MAX_BYTES);
    }
    doc->role = role;
    doc->bucket = sl_strdup(bucket);
    doc->json = text;
    return SL_SUCCESS;
}

/* The builder for `c`: the partition of identities.mover ("aws", "aws-cn", ...). */
static sl_result builder_init(const sl_config *c, struct builder *b)
{
    ENSURE(c->identities.present && c->identities.mover != NULL && c->identities.grants != NULL,
           SL_ERR_INVALID_ARGUMENT,
           "the configuration has no \"identities\" section: name the S3 principals the policies are for, e.g. "
           "\"identities\": {\"mover\": \"arn:aws:iam:::user/mover\", \"grants\": \"arn:aws:iam:::user/grants\", "
           "\"consumers\": [...], \"reviewers\": [...]} (docs/configuration.md, docs/policies.md)");
    GUARD(check_prefixes(c));
    *b = (struct builder){ .config = c };
    /* "arn:<partition>:iam::..." — the loader checked the form */
    const char *partition = c->identities.mover + 4;
    size_t n = strcspn(partition, ":");
    ENSURE(n < sizeof(b->partition), SL_ERR_INVALID_ARGUMENT, "policy: identities.mover has no partition");
    memcpy(b->partition, partition, n);
    b->partition[n] = '\0';
    return SL_SUCCESS;
}

/* A free slot at the end of set->docs (grown as needed). */
static policy_doc *next_doc(policy_set *set)
{
    set->docs = sl_realloc(set->docs, (set->count + 1) * sizeof(*set->docs));
    set->docs[set->count] = (policy_doc){ 0 };
    return &set->docs[set->count++];
}

sl_result policy_build(const sl_config *c, policy_set *out)
{
    ENSURE(c != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "policy: no configuration or no result");
    *out = (policy_set){ 0 };
    struct builder b;
    GUARD(builder_init(c, &b));

    bool separate_control = strcmp(c->buckets.control, c->buckets.quarantine) != 0;
    policy_set set = { 0 };
    sl_result result = SL_FAILURE;
    json_t *list = must(json_array());
    build_staging(&b, list);
    GUARD_CLEANUP(finish_document(next_doc(&set), POLICY_BUCKET_STAGING, c->buckets.staging, list));
    list = must(json_array());
    build_mover_only(&b, list, POLICY_BUCKET_QUARANTINE, !separate_control);
    GUARD_CLEANUP(finish_document(next_doc(&set), POLICY_BUCKET_QUARANTINE, c->buckets.quarantine, list));
    list = must(json_array());
    build_trusted(&b, list);
    GUARD_CLEANUP(finish_document(next_doc(&set), POLICY_BUCKET_TRUSTED, c->buckets.trusted, list));
    if (separate_control) {
        list = must(json_array());
        build_mover_only(&b, list, POLICY_BUCKET_CONTROL, false);
        GUARD_CLEANUP(finish_document(next_doc(&set), POLICY_BUCKET_CONTROL, c->buckets.control, list));
    }
    /* one document per reference bucket, in the order the routes first name them */
    for (size_t i = 0; i < c->route_count; i++) {
        const sl_config_reference *ref = &c->routes[i].reference;
        if (!ref->present) continue;
        bool earlier = false;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = c->routes[j].reference.present && strcmp(c->routes[j].reference.bucket, ref->bucket) == 0;
        if (earlier) continue;
        list = must(json_array());
        build_reference(&b, list, ref->bucket);
        GUARD_CLEANUP(finish_document(next_doc(&set), POLICY_BUCKET_REFERENCE, ref->bucket, list));
    }
    *out = set;
    return SL_SUCCESS;
cleanup:
    policy_set_clean_up(&set);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* The task role (STS)                                                                 */
/* ---------------------------------------------------------------------------------- */

static json_t *role_statement(const char *sid, const char *action, json_t *resources)
{
    json_t *s = must(json_object());
    put(s, "Sid", json_string(sid));
    put(s, "Effect", json_string("Allow"));
    put(s, "Action", one(json_string(action)));
    put(s, "Resource", resources);
    return s;
}

sl_result policy_task_role(const sl_config *c, policy_task_role_doc which, char **out)
{
    ENSURE(c != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "policy: no configuration or no result");
    ENSURE(c->grants.sts.present && c->grants.sts.role_arn != NULL, SL_ERR_INVALID_ARGUMENT,
           "the configuration has no grants.sts section: there is no task role to write policies for");
    struct builder b;
    GUARD(builder_init(c, &b));
    json_t *list = must(json_array());
    if (which == POLICY_TASK_ROLE_TRUST) {
        /* the grants identity assumes the role; the task id travels as the session name
         * (and, with grants.sts.source_identity, as the source identity AWS wants allowed) */
        json_t *s = must(json_object());
        put(s, "Sid", json_string("TheGrantsIdentityMayAssumeTheTaskRole"));
        put(s, "Effect", json_string("Allow"));
        put(s, "Principal", principal(&b, GRANTS));
        json_t *actions = one(json_string("sts:AssumeRole"));
        if (c->grants.sts.source_identity) push(actions, json_string("sts:SetSourceIdentity"));
        put(s, "Action", actions);
        push(list, s);
    } else {
        json_t *puts = must(json_array()), *reads = must(json_array());
        for (size_t i = 0; i < c->route_count; i++) {
            const sl_config_route *r = &c->routes[i];
            if (!r->sts) continue;
            push(puts, objects_arn(&b, c->buckets.staging, r->staging_prefix));
            if (!r->reference.present) continue;
            json_t *objects = reference_objects(&b, r->reference.bucket);
            size_t k;
            json_t *arn;
            json_array_foreach(objects, k, arn) push_unique(reads, json_incref(arn));
            json_decref(objects);
        }
        if (json_array_size(puts) == 0) {
            json_decref(puts);
            json_decref(reads);
            json_decref(list);
            RAISE(SL_ERR_INVALID_ARGUMENT, "no route has \"sts\": true: the task role would allow nothing");
        }
        /* the session policy of each task narrows these to its own prefix and keys */
        push(list, role_statement("TaskSessionsMayPutIntoStsRoutes", "s3:PutObject", puts));
        if (json_array_size(reads) > 0)
            push(list, role_statement("TaskSessionsMayReadTheReferenceAllowlists", "s3:GetObject", reads));
        else
            json_decref(reads);
    }
    *out = document_text(list);
    return SL_SUCCESS;
}

void policy_set_clean_up(policy_set *set)
{
    if (set == NULL) return;
    for (size_t i = 0; i < set->count; i++) {
        sl_free(set->docs[i].bucket);
        sl_free(set->docs[i].json);
    }
    sl_free(set->docs);
    *set = (policy_set){ 0 };
}

/* ---------------------------------------------------------------------------------- */
/* The command                                                                         */
/* ---------------------------------------------------------------------------------- */

/* Writes `text` and a newline to `path` through a temporary file in the same folder,
 * renamed over it once complete. On error the message is in the last error. */
static sl_result write_file(const char *path, const char *text)
{
    sl_buf tmp = { 0 };
    GUARD(sl_buf_appendf(&tmp, "%s.tmp.%ld", path, (long)getpid()));
    sl_result result = SL_FAILURE;
    int fd = open(sl_buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ENSURE_CLEANUP(fd >= 0, SL_ERR_IO, "cannot create %s: %s", sl_buf_cstr(&tmp), strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done <= len) {
        const char *from = done < len ? text + done : "\n";
        size_t want = done < len ? len - done : 1;
        ssize_t n = write(fd, from, want);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n > 0, SL_ERR_IO, "cannot write %s: %s", sl_buf_cstr(&tmp), strerror(errno));
        done += (size_t)n;
    }
    ENSURE_CLEANUP(fsync(fd) == 0, SL_ERR_IO, "cannot write %s: %s", sl_buf_cstr(&tmp), strerror(errno));
    int closed = close(fd);
    fd = -1;
    ENSURE_CLEANUP(closed == 0, SL_ERR_IO, "cannot write %s: %s", sl_buf_cstr(&tmp), strerror(errno));
    ENSURE_CLEANUP(rename(sl_buf_cstr(&tmp), path) == 0, SL_ERR_IO, "cannot rename %s to %s: %s",
                   sl_buf_cstr(&tmp), path, strerror(errno));
    result = SL_SUCCESS;
cleanup:
    if (fd >= 0) close(fd);
    if (sl_failed(result)) (void)unlink(sl_buf_cstr(&tmp));
    sl_buf_clean_up(&tmp);
    return result;
}

static sl_result write_all(const policy_set *set, const char *dir, FILE *out)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) RAISE(SL_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), SL_ERR_IO, "%s is not a folder", dir);
    for (size_t i = 0; i < set->count; i++) {
        sl_buf path = { 0 };
        bool slash = dir[0] != '\0' && dir[strlen(dir) - 1] == '/';
        if (sl_failed(sl_buf_appendf(&path, "%s%s%s.json", dir, slash ? "" : "/", set->docs[i].bucket)) ||
            sl_failed(write_file(sl_buf_cstr(&path), set->docs[i].json))) {
            sl_buf_clean_up(&path);
            return SL_FAILURE;
        }
        fprintf(out, "%s %s\n", set->docs[i].bucket, sl_buf_cstr(&path));
        sl_buf_clean_up(&path);
    }
    return SL_SUCCESS;
}

static void print_all(const policy_set *set, FILE *out)
{
    fprintf(out, "{\n");
    for (size_t i = 0; i < set->count; i++)
        fprintf(out, "  \"%s\": %s%s\n", set->docs[i].bucket, set->docs[i].json, i + 1 < set->count ? "," : "");
    fprintf(out, "}\n");
}

/* Loads `config_file`; on failure prints every error as check-config does and
 * returns NULL. */
static sl_config *load_or_report(const char *config_file, FILE *err)
{
    const char *name = config_file ? config_file : "(no file)";
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    if (sl_ok(sl_config_load(config_file, &config, &errors))) {
        sl_config_errors_clean_up(&errors);
        return config;
    }
    for (size_t i = 0; i < errors.count; i++) {
        const sl_config_error *e = &errors.items[i];
        if (e->line > 0)
            fprintf(err, "%s:%d:%d: %s\n", name, e->line, e->column, e->message);
        else if (e->path[0] != '\0')
            fprintf(err, "%s: %s: %s\n", name, e->path, e->message);
        else
            fprintf(err, "%s: %s\n", name, e->message);
    }
    size_t n = errors.count ? errors.count : 1;
    if (errors.count == 0) fprintf(err, "%s: %s\n", name, sl_error_detail());
    fprintf(err, "%zu error%s\n", n, n == 1 ? "" : "s");
    sl_config_errors_clean_up(&errors);
    return NULL;
}

int policy_task_role_command(const char *config_file, const char *which, FILE *out, FILE *err)
{
    policy_task_role_doc doc;
    if (which != NULL && strcmp(which, "trust") == 0) {
        doc = POLICY_TASK_ROLE_TRUST;
    } else if (which != NULL && strcmp(which, "permissions") == 0) {
        doc = POLICY_TASK_ROLE_PERMISSIONS;
    } else {
        fprintf(err, "sluice-mover policy: --task-role takes \"trust\" or \"permissions\"\n");
        return 2;
    }
    sl_config *config = load_or_report(config_file, err);
    if (config == NULL) return 1;
    char *text = NULL;
    int status = 1;
    if (sl_failed(policy_task_role(config, doc, &text))) {
        fprintf(err, "sluice-mover policy: %s: %s\n", config_file, sl_error_detail());
    } else {
        fprintf(out, "%s\n", text);
        status = fflush(out) == 0 ? 0 : 1;
    }
    sl_free(text);
    sl_config_free(config);
    return status;
}

int policy_command(const char *config_file, const char *output_dir, FILE *out, FILE *err)
{
    const char *name = config_file ? config_file : "(no file)";
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    policy_set set = { 0 };
    int status = 1;
    if ((config = load_or_report(config_file, err)) == NULL) goto out;
    if (sl_failed(policy_build(config, &set))) {
        fprintf(err, "sluice-mover policy: %s: %s\n", name, sl_error_detail());
        goto out;
    }
    if (output_dir != NULL) {
        if (sl_failed(write_all(&set, output_dir, out))) {
            fprintf(err, "sluice-mover policy: %s\n", sl_error_detail());
            goto out;
        }
    } else {
        print_all(&set, out);
    }
    status = fflush(out) == 0 ? 0 : 1;
    if (status != 0) fprintf(err, "sluice-mover policy: cannot write the output: %s\n", strerror(errno));
out:
    policy_set_clean_up(&set);
    sl_config_errors_clean_up(&errors);
    sl_config_free(config);
    return status;
}

/*
 * policy.h — the S3 bucket policies that make S3 itself enforce the "Actors and their
 * rights" table of docs/design.md, built from a configuration's buckets, routes and
 * `identities` section; and `sluice-mover policy`, which prints or writes them.
 *
 * One policy document per bucket: staging, quarantine (which also holds the control
 * prefix unless buckets.control is a bucket of its own) and trusted, plus control when
 * it is separate. In short:
 *   staging     the grants identity may only PutObject under the routes' staging
 *               prefixes, and only with `x-amz-acl: bucket-owner-full-control`; it is
 *               explicitly denied everything else there (get, list, delete, tagging,
 *               ACLs, bucket settings), consumers and reviewers everything;
 *   quarantine  the mover alone (everyone configured is denied everything);
 *   control     the same, when it is a bucket of its own;
 *   trusted     the mover writes; consumers and reviewers may only read; the grants
 *               identity is denied everything;
 *   every bucket, with identities.vpc_endpoints: the grants identity, consumers and
 *               reviewers are denied every request that does not arrive through one of
 *               those endpoints (aws:SourceVpce).
 * Each denial is an explicit Deny with an Action list, never NotAction (radosgw ignores
 * NotAction, so such a statement would silently deny nothing). docs/policies.md explains
 * every statement, the radosgw behaviour that shaped it, and the limits.
 *
 * Documents are compact JSON (jansson, keys in a fixed order) — what radosgw's IAM
 * calls want, and what `aws s3api put-bucket-policy --policy file://…` accepts.
 *
 * Ownership: a policy_set owns its strings; policy_set_clean_up releases them.
 * Threading: no shared state; any thread.
 */
#ifndef SLUICE_POLICY_POLICY_H
#define SLUICE_POLICY_POLICY_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "util/error.h"

/* S3 refuses a bucket policy larger than this (AWS: 20 KB). */
#define POLICY_MAX_BYTES 20480

typedef enum policy_bucket {
    POLICY_BUCKET_STAGING = 0,
    POLICY_BUCKET_QUARANTINE, /* holds the control prefix too when control is not separate */
    POLICY_BUCKET_TRUSTED,
    POLICY_BUCKET_CONTROL,    /* only when buckets.control is not the quarantine bucket */
    POLICY_BUCKET_REFERENCE,  /* a bucket of routes[].reference (one document per bucket) */
} policy_bucket;

typedef struct policy_doc {
    policy_bucket role;
    char *bucket; /* the bucket's name */
    char *json;   /* the policy document, compact JSON, NUL-terminated, no newline */
} policy_doc;

typedef struct policy_set {
    policy_doc *docs; /* in the order staging, quarantine, trusted[, control][, reference…] */
    size_t count;     /* 3, 4 with a separate control bucket, plus one per reference bucket */
} policy_set;

/* Builds the policies for `config`. Fails with SL_ERR_INVALID_ARGUMENT when the
 * configuration has no `identities` section, or when a prefix holds "*", "?" or "${"
 * (a policy Resource would read them as a wildcard or a policy variable); with
 * SL_ERR_LIMIT when a document would exceed POLICY_MAX_BYTES. `*out` is overwritten;
 * on error it is left empty (nothing to clean up, though cleaning it up is harmless). */
SL_MUST_CHECK sl_result policy_build(const sl_config *config, policy_set *out);

/* The task role's documents (grants.sts.role_arn), which the S3 server's IAM holds, not
 * a bucket: TRUST lets the grants identity sts:AssumeRole (and sts:SetSourceIdentity
 * with grants.sts.source_identity); PERMISSIONS allows s3:PutObject under the staging
 * prefixes of the routes with "sts": true and s3:GetObject on their reference
 * allowlists — each task's session policy narrows that to its own prefix and keys.
 * *out is a new compact JSON string (sl_free). SL_ERR_INVALID_ARGUMENT without
 * grants.sts or identities, or (PERMISSIONS) without a route that has "sts": true. */
typedef enum policy_task_role_doc { POLICY_TASK_ROLE_TRUST, POLICY_TASK_ROLE_PERMISSIONS } policy_task_role_doc;

SL_MUST_CHECK sl_result policy_task_role(const sl_config *config, policy_task_role_doc which, char **out);

/* Releases the strings and empties the set; NULL and empty sets are fine. */
void policy_set_clean_up(policy_set *set);

/* `sluice-mover policy -c FILE [--output-dir DIR]`. Loads `config_file`; then
 *   without output_dir: prints one JSON object to `out` whose keys are the bucket names
 *     and whose values are the policy documents, one bucket a line:
 *       {
 *         "sluice-staging": {"Version":"2012-10-17","Statement":[…]},
 *         "sluice-quarantine": {…},
 *         "sluice-trusted": {…}
 *       }
 *   with output_dir: writes each document to <output_dir>/<bucket>.json (compact, a
 *     final newline; the folder is created if missing; each file replaced atomically)
 *     and prints "<bucket> <file>" lines to `out`, ready for
 *       while read -r bucket file; do
 *           aws s3api put-bucket-policy --bucket "$bucket" --policy "file://$file"
 *       done
 * Returns 0 on success. On failure prints to `err` — every configuration error as
 * check-config does ("<file>: <path>: <message>", then "N errors"), or one line naming
 * what is missing or wrong ("… has no \"identities\" section …") — and returns 1. */
int policy_command(const char *config_file, const char *output_dir, FILE *out, FILE *err);

/* `sluice-mover policy -c FILE --task-role trust|permissions`: prints the task role's
 * document (policy_task_role) as one line of compact JSON — for `radosgw-admin role
 * create --assume-role-policy-doc` / `role-policy put --policy-doc`, or IAM's
 * CreateRole / PutRolePolicy. Returns 0; 1 with the reason on `err`; 2 for a `which`
 * other than "trust" or "permissions". */
int policy_task_role_command(const char *config_file, const char *which, FILE *out, FILE *err);

#endif /* SLUICE_POLICY_POLICY_H */

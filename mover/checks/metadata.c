/*
 * metadata.c — the user-metadata rule (checks.h): the names and values of every
 * x-amz-meta-* header of the object, added up, against the route's limit. The S3
 * client keeps every pair of an answer (up to bounds far above any limit) and says
 * when it had to drop some; a set that could not be counted whole fails.
 */
#include "checks/checks.h"

#include "util/alloc.h"

static sl_result judge(const sl_config_checks *rules, const sl_cursor *metadata, size_t pairs, bool truncated,
                       findings *out)
{
    size_t total = 0;
    for (size_t i = 0; i < 2 * pairs; i++)
        if (!sl_add_size(total, metadata[i].len, &total)) total = SIZE_MAX;
    if (truncated)
        return findings_add(out, "metadata", FINDING_FAIL,
                            "more user metadata than could be counted (over %zu pairs or %zu bytes kept; limit %u bytes)",
                            pairs, total, rules->max_metadata_bytes);
    if (total > rules->max_metadata_bytes)
        return findings_add(out, "metadata", FINDING_FAIL, "user metadata is %zu bytes in %zu pairs (limit %u)", total,
                            pairs, rules->max_metadata_bytes);
    return findings_add(out, "metadata", FINDING_PASS, "%zu pairs, %zu bytes", pairs, total);
}

sl_result checks_metadata(const sl_config_checks *rules, const sl_cursor *metadata, size_t pairs, findings *out)
{
    return judge(rules, metadata, pairs, false, out);
}

sl_result checks_metadata_of(const sl_config_checks *rules, const s3_object_info *info, findings *out)
{
    return judge(rules, info->metadata, info->metadata_count, info->metadata_truncated, out);
}

/*
 * ops.c — the names of the S3 operations and of the outcomes of their requests
 * (ops.h): the labels of logs and metrics, generated from the lists in ops.h.
 */
#include "s3/ops.h"

#define OP_NAME_(e, name) [e] = name,
static const char *const op_names[S3_OP_COUNT] = { S3_OP_LIST(OP_NAME_) };
#undef OP_NAME_

#define OUTCOME_NAME_(e, name) [e] = name,
static const char *const outcome_names[S3_OUTCOME_COUNT] = { S3_OUTCOME_LIST(OUTCOME_NAME_) };
#undef OUTCOME_NAME_

const char *s3_op_name(s3_op kind) { return kind >= 0 && kind < S3_OP_COUNT ? op_names[kind] : "?"; }

bool s3_op_from_name(sl_cursor name, s3_op *out)
{
    for (int i = 0; i < S3_OP_COUNT; i++) {
        if (sl_cursor_eq_cstr(name, op_names[i])) {
            *out = (s3_op)i;
            return true;
        }
    }
    return false;
}

const char *s3_outcome_name(s3_outcome outcome)
{
    return outcome >= 0 && outcome < S3_OUTCOME_COUNT ? outcome_names[outcome] : "?";
}


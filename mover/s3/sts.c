/*
 * sts.c — AssumeRole (see sts.h): the form body, the answer's parser, and the call
 * through the control engine.
 *
 * The parser works like xml.c's: expat reports elements; a short stack of *known*
 * elements (frames) follows the document; each known container has a table of the
 * children it knows, and every value lands, by its offset, in one `answer` struct that
 * holds both possible results (the credentials and an error). Unknown elements are
 * skipped as whole subtrees by a depth counter, so fields STS adds later do no harm.
 * A bit per table row catches a field given twice and a required one that never came.
 * The first failure is kept (with expat's line and column) and stops expat.
 */
#include "s3/sts.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>


#include "s3/sigv4.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_DEPTH 16
#define FRAMES_MAX 5

/* ---- what the answer holds ---- */

struct answer {
    sts_credentials cred;
    s3_error error;
    sl_buf expiration; /* the text, converted when the document ends */
    sl_buf packed_size;
    sl_buf error_type; /* AWS's <Type>Sender</Type>: read, not kept */
};

enum node {
    N_RESPONSE,       /* AssumeRoleResponse */
    N_RESULT,         /* AssumeRoleResponse/AssumeRoleResult */
    N_CREDENTIALS,    /* …/Credentials */
    N_ROLE_USER,      /* …/AssumedRoleUser */
    N_METADATA,       /* AssumeRoleResponse/ResponseMetadata */
    N_ERROR_RESPONSE, /* ErrorResponse */
    N_ERROR,          /* ErrorResponse/Error, or Error as the root */
    N_COUNT
};

enum field_type { T_CONTAINER, T_STRING };
enum field_flags { REQUIRED = 1, NONEMPTY = 2, SECRET = 4 };

struct field {
    const char *name;
    enum field_type type;
    unsigned flags;
    enum node node;
    size_t offset; /* of the sl_buf in struct answer */
};

#define VALUE(n, member, fl) { .name = n, .type = T_STRING, .flags = fl, .offset = offsetof(struct answer, member) }
#define CONTAINER(n, nd, fl) { .name = n, .type = T_CONTAINER, .flags = fl, .node = nd }

static const struct field response_fields[] = {
    CONTAINER("AssumeRoleResult", N_RESULT, REQUIRED),
    CONTAINER("ResponseMetadata", N_METADATA, 0),
};
static const struct field result_fields[] = {
    CONTAINER("Credentials", N_CREDENTIALS, REQUIRED),
    CONTAINER("AssumedRoleUser", N_ROLE_USER, 0),
    VALUE("PackedPolicySize", packed_size, 0),
    VALUE("SourceIdentity", cred.source_identity, 0),
};
static const struct field credentials_fields[] = {
    VALUE("AccessKeyId", cred.access_key_id, REQUIRED | NONEMPTY),
    VALUE("SecretAccessKey", cred.secret_access_key, REQUIRED | NONEMPTY | SECRET),
    VALUE("SessionToken", cred.session_token, REQUIRED | NONEMPTY | SECRET),
    VALUE("Expiration", expiration, REQUIRED | NONEMPTY),
};
static const struct field role_user_fields[] = {
    VALUE("Arn", cred.assumed_role_arn, 0),
    VALUE("AssumedRoleId", cred.assumed_role_id, 0),
    VALUE("AssumeRoleId", cred.assumed_role_id, 0), /* radosgw 16's spelling */
};
static const struct field metadata_fields[] = {
    VALUE("RequestId", cred.request_id, 0),
};
static const struct field error_response_fields[] = {
    CONTAINER("Error", N_ERROR, REQUIRED),
    VALUE("RequestId", error.request_id, 0),
};
static const struct field error_fields[] = {
    VALUE("Type", error_type, 0),
    VALUE("Code", error.code_text, REQUIRED | NONEMPTY),
    VALUE("Message", error.message, 0),
    VALUE("RequestId", error.request_id, 0),
    VALUE("HostId", error.host_id, 0),
    VALUE("Resource", error.resource, 0),
};

static const struct {
    const struct field *fields;
    size_t count;
} nodes[N_COUNT] = {
    [N_RESPONSE] = { response_fields, ARRAY_LEN(response_fields) },
    [N_RESULT] = { result_fields, ARRAY_LEN(result_fields) },
    [N_CREDENTIALS] = { credentials_fields, ARRAY_LEN(credentials_fields) },
    [N_ROLE_USER] = { role_user_fields, ARRAY_LEN(role_user_fields) },
    [N_METADATA] = { metadata_fields, ARRAY_LEN(metadata_fields) },
    [N_ERROR_RESPONSE] = { error_response_fields, ARRAY_LEN(error_response_fields) },
    [N_ERROR] = { error_fields, ARRAY_LEN(error_fields) },
};

static const struct {
    const char *name;
    enum node node;
} roots[] = {
    { "AssumeRoleResponse", N_RESPONSE },
    { "ErrorResponse", N_ERROR_RESPONSE },
    { "Error", N_ERROR },
};

/* ---- the parser ---- */

struct frame {
    const char *name;          /* static, from the tables */
    const struct field *field; /* NULL for the root */
    enum node node;
    uint32_t seen;             /* a container's rows that appeared */
};

struct parser {
    XML_Parser xml;
    bool failed;
    sl_error err_code;
    char err_detail[320];
    size_t depth, skip_depth;
    struct frame frames[FRAMES_MAX];
    bool root_closed;
    bool is_error;
    sl_buf text;
    struct answer a;
};

static void fail(struct parser *p, sl_error code, const char *detail)
{
    if (p->failed) return;
    p->failed = true;
    p->err_code = code;
    snprintf(p->err_detail, sizeof(p->err_detail), "AssumeRole answer: %s (line %lu, column %lu)", detail,
             (unsigned long)XML_GetCurrentLineNumber(p->xml), (unsigned long)XML_GetCurrentColumnNumber(p->xml));
    XML_StopParser(p->xml, XML_FALSE);
}

static void stop_on_failure(struct parser *p, sl_result r)
{
    if (sl_failed(r)) fail(p, sl_error_last(), sl_error_detail());
}

static sl_result open_root(struct parser *p, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(roots); i++) {
        if (strcmp(name, roots[i].name) != 0) continue;
        p->frames[0] = (struct frame){ .name = roots[i].name, .node = roots[i].node };
        p->depth = 1;
        p->is_error = roots[i].node != N_RESPONSE;
        return SL_SUCCESS;
    }
    RAISE(SL_ERR_PARSE, "unexpected root element <%.64s> (expected <AssumeRoleResponse>, <ErrorResponse> or <Error>)",
          name);
}

static sl_result start_element(struct parser *p, const char *name)
{
    ENSURE(p->depth + p->skip_depth < MAX_DEPTH, SL_ERR_LIMIT, "elements nested more than %d deep", MAX_DEPTH);
    if (p->skip_depth > 0) {
        p->skip_depth++;
        return SL_SUCCESS;
    }
    ENSURE(!p->root_closed, SL_ERR_PARSE, "a second root element <%.64s>", name);
    if (p->depth == 0) return open_root(p, name);
    struct frame *top = &p->frames[p->depth - 1];
    ENSURE(top->field == NULL || top->field->type == T_CONTAINER, SL_ERR_PARSE, "element <%.64s> inside the value <%s>",
           name, top->name);
    size_t row = 0;
    const struct field *field = NULL;
    for (; row < nodes[top->node].count; row++) {
        if (strcmp(nodes[top->node].fields[row].name, name) == 0) {
            field = &nodes[top->node].fields[row];
            break;
        }
    }
    if (field == NULL) {
        p->skip_depth = 1;
        return SL_SUCCESS;
    }
    uint32_t bit = (uint32_t)1 << row;
    ENSURE(!(top->seen & bit), SL_ERR_PARSE, "<%s> appears twice in <%s>", field->name, top->name);
    top->seen |= bit;
    ENSURE(p->depth < FRAMES_MAX, SL_ERR_STATE, "the element tables nest deeper than %d", FRAMES_MAX);
    p->frames[p->depth++] = (struct frame){ .name = field->name, .field = field, .node = field->node };
    sl_buf_clean_up_secure(&p->text);
    return SL_SUCCESS;
}

static sl_result store_value(struct parser *p, const struct field *field, const char *parent)
{
    ENSURE(!(field->flags & NONEMPTY) || p->text.len > 0, SL_ERR_PARSE, "empty <%s> in <%s>", field->name, parent);
    sl_buf *dst = (sl_buf *)((char *)&p->a + field->offset);
    ENSURE(dst->len == 0, SL_ERR_PARSE, "<%s> in <%s> gives a value already given", field->name, parent);
    sl_buf_clean_up_secure(dst);
    *dst = p->text; /* hand the collected buffer over */
    p->text = (sl_buf){ 0 };
    return SL_SUCCESS;
}

static sl_result close_container(const struct frame *f)
{
    for (size_t row = 0; row < nodes[f->node].count; row++)
        ENSURE(!(nodes[f->node].fields[row].flags & REQUIRED) || (f->seen & ((uint32_t)1 << row)), SL_ERR_PARSE,
               "<%s> without <%s>", f->name, nodes[f->node].fields[row].name);
    return SL_SUCCESS;
}

static sl_result end_element(struct parser *p)
{
    if (p->skip_depth > 0) {
        p->skip_depth--;
        return SL_SUCCESS;
    }
    ENSURE(p->depth > 0, SL_ERR_STATE, "end of an element that never started");
    struct frame f = p->frames[--p->depth];
    if (f.field != NULL && f.field->type == T_STRING) return store_value(p, f.field, p->frames[p->depth - 1].name);
    GUARD(close_container(&f));
    if (p->depth == 0) p->root_closed = true;
    return SL_SUCCESS;
}

static sl_result collect_text(struct parser *p, const char *s, int len)
{
    if (p->skip_depth > 0 || p->depth == 0) return SL_SUCCESS;
    const struct frame *top = &p->frames[p->depth - 1];
    if (top->field == NULL || top->field->type == T_CONTAINER) return SL_SUCCESS; /* indentation */
    ENSURE((size_t)len <= STS_MAX_VALUE - p->text.len, SL_ERR_LIMIT, "value of <%s> longer than %zu bytes", top->name,
           STS_MAX_VALUE);
    return sl_buf_append(&p->text, s, (size_t)len);
}

static void XMLCALL on_start(void *user, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct parser *p = user;
    if (!p->failed) stop_on_failure(p, start_element(p, name));
}

static void XMLCALL on_end(void *user, const XML_Char *name)
{
    (void)name;
    struct parser *p = user;
    if (!p->failed) stop_on_failure(p, end_element(p));
}

static void XMLCALL on_text(void *user, const XML_Char *s, int len)
{
    struct parser *p = user;
    if (!p->failed) stop_on_failure(p, collect_text(p, s, len));
}

static void XMLCALL on_doctype(void *user, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(user, SL_ERR_PARSE, "DOCTYPE declarations are not accepted");
}

static void XMLCALL on_entity(void *user, const XML_Char *name, int is_parameter, const XML_Char *value, int value_len,
                              const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
                              const XML_Char *notation)
{
    (void)name;
    (void)is_parameter;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    fail(user, SL_ERR_PARSE, "entity declarations are not accepted");
}

static void answer_clean_up(struct answer *a)
{
    sts_credentials_clean_up(&a->cred);
    s3_error_clean_up(&a->error);
    sl_buf_clean_up(&a->expiration);
    sl_buf_clean_up(&a->packed_size);
    sl_buf_clean_up(&a->error_type);
}

/* Strict unsigned decimal, 1..20 digits, no overflow. */
static bool parse_u64(sl_cursor text, uint64_t *out)
{
    if (text.len == 0 || text.len > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < text.len; i++) {
        if (text.ptr[i] < '0' || text.ptr[i] > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(text.ptr[i] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

/* The typed fields, once the document is complete. */
static sl_result finish_answer(struct answer *a)
{
    ENSURE(sl_time_parse_s3(sl_cursor_from_buf(&a->expiration), &a->cred.expiration_ms), SL_ERR_PARSE,
           "AssumeRole answer: <Expiration> is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SS[.fraction]Z)");
    if (a->packed_size.len > 0) {
        ENSURE(parse_u64(sl_cursor_from_buf(&a->packed_size), &a->cred.packed_policy_size), SL_ERR_PARSE,
               "AssumeRole answer: <PackedPolicySize> is not an unsigned decimal number");
        a->cred.has_packed_policy_size = true;
    }
    return SL_SUCCESS;
}

void sts_credentials_clean_up(sts_credentials *c)
{
    if (c == NULL) return;
    sl_buf_clean_up(&c->access_key_id);
    sl_buf_clean_up_secure(&c->secret_access_key);
    sl_buf_clean_up_secure(&c->session_token);
    sl_buf_clean_up(&c->assumed_role_arn);
    sl_buf_clean_up(&c->assumed_role_id);
    sl_buf_clean_up(&c->source_identity);
    sl_buf_clean_up(&c->request_id);
    *c = (sts_credentials){ 0 };
}

static const XML_Memory_Handling_Suite memory_suite = { sl_malloc, sl_realloc, sl_free };

sl_result sts_parse_assume_role(const void *bytes, size_t len, sts_credentials *out, s3_error *error, bool *is_error)
{
    ENSURE(out != NULL && error != NULL && is_error != NULL && (bytes != NULL || len == 0), SL_ERR_INVALID_ARGUMENT,
           "sts_parse_assume_role: arguments");
    *out = (sts_credentials){ 0 };
    *error = (s3_error){ 0 };
    *is_error = false;
    ENSURE(len <= STS_MAX_DOCUMENT, SL_ERR_LIMIT, "AssumeRole answer: larger than %zu bytes", STS_MAX_DOCUMENT);
    ENSURE(len > 0, SL_ERR_PARSE, "AssumeRole answer: empty document");
    struct parser p = { 0 };
    p.xml = XML_ParserCreate_MM(NULL, &memory_suite, NULL);
    if (p.xml == NULL) {
        fprintf(stderr, "sluice: expat could not create a parser; aborting\n");
        abort();
    }
    XML_SetUserData(p.xml, &p);
    XML_SetElementHandler(p.xml, on_start, on_end);
    XML_SetCharacterDataHandler(p.xml, on_text);
    XML_SetStartDoctypeDeclHandler(p.xml, on_doctype);
    XML_SetEntityDeclHandler(p.xml, on_entity);
    XML_SetParamEntityParsing(p.xml, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status status = XML_Parse(p.xml, bytes, (int)len, XML_TRUE);
    if (!p.failed && status != XML_STATUS_OK) {
        char detail[200];
        snprintf(detail, sizeof(detail), "%s", XML_ErrorString(XML_GetErrorCode(p.xml)));
        fail(&p, SL_ERR_PARSE, detail);
    }
    if (!p.failed && !p.root_closed) fail(&p, SL_ERR_PARSE, "the document ended before its root element closed");
    sl_result result = SL_SUCCESS;
    if (p.failed) {
        sl_error code = p.err_code;
        char detail[sizeof(p.err_detail)];
        memcpy(detail, p.err_detail, sizeof(detail));
        result = sl_error_raise(code, __FILE__, __LINE__, "%s", detail);
    } else if (p.is_error) {
        p.a.error.code = s3_error_code_from_name(sl_cursor_from_buf(&p.a.error.code_text));
        *error = p.a.error;
        p.a.error = (s3_error){ 0 };
        *is_error = true;
    } else if (sl_ok(result = finish_answer(&p.a))) {
        *out = p.a.cred;
        p.a.cred = (sts_credentials){ 0 };
    }
    answer_clean_up(&p.a);
    sl_buf_clean_up_secure(&p.text);
    XML_ParserFree(p.xml);
    return result;
}

/* ---- the request ---- */

static bool session_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 2 || n > STS_MAX_SESSION_NAME) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("_+=,.@-", c);
        if (!ok) return false;
    }
    return true;
}

static sl_result append_param(sl_buf *out, const char *name, const char *value)
{
    GUARD(sl_buf_appendf(out, "&%s=", name));
    return sigv4_uri_encode(out, sl_cursor_from_cstr(value), SIGV4_ENCODE_QUERY);
}

sl_result sts_assume_role_body(const sts_assume_role_params *p, sl_buf *out)
{
    ENSURE(p != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "AssumeRole: no parameters");
    ENSURE(p->role_arn != NULL && strncmp(p->role_arn, "arn:", 4) == 0 && strlen(p->role_arn) <= 2048,
           SL_ERR_INVALID_ARGUMENT, "AssumeRole: RoleArn must be an ARN (arn:…) of at most 2048 bytes");
    ENSURE(p->session_name != NULL && session_name_ok(p->session_name), SL_ERR_INVALID_ARGUMENT,
           "AssumeRole: RoleSessionName must be 2..%d characters of letters, digits and _+=,.@-",
           STS_MAX_SESSION_NAME);
    ENSURE(p->policy == NULL || (p->policy[0] != '\0' && strlen(p->policy) <= STS_MAX_POLICY),
           SL_ERR_INVALID_ARGUMENT, "AssumeRole: the session policy must be 1..%d bytes", STS_MAX_POLICY);
    ENSURE(p->duration_seconds == 0 ||
               (p->duration_seconds >= STS_MIN_DURATION_S && p->duration_seconds <= STS_MAX_DURATION_S),
           SL_ERR_INVALID_ARGUMENT, "AssumeRole: DurationSeconds must be %u..%u, not %u", STS_MIN_DURATION_S,
           STS_MAX_DURATION_S, p->duration_seconds);
    ENSURE(p->source_identity == NULL || session_name_ok(p->source_identity), SL_ERR_INVALID_ARGUMENT,
           "AssumeRole: SourceIdentity must be 2..64 characters of letters, digits and _+=,.@-");
    sl_buf body = { 0 };
    sl_result r = sl_buf_append_cstr(&body, "Action=AssumeRole&Version=2011-06-15");
    if (sl_ok(r)) r = append_param(&body, "RoleArn", p->role_arn);
    if (sl_ok(r)) r = append_param(&body, "RoleSessionName", p->session_name);
    if (sl_ok(r) && p->policy != NULL) r = append_param(&body, "Policy", p->policy);
    if (sl_ok(r) && p->duration_seconds != 0) r = sl_buf_appendf(&body, "&DurationSeconds=%u", p->duration_seconds);
    if (sl_ok(r) && p->source_identity != NULL) r = append_param(&body, "SourceIdentity", p->source_identity);
    if (sl_ok(r)) r = sl_buf_append_cursor(out, sl_cursor_from_buf(&body));
    sl_buf_clean_up(&body);
    return r;
}

struct call {
    sts_assume_role_fn *done;
    void *user;
};

static void answered(void *user, const s3_result *result, sl_cursor body)
{
    struct call *call = user;
    sts_credentials cred = { 0 };
    s3_error err = { 0 };
    bool is_error = false;
    s3_result r = *result;
    char detail[700];
    bool parsed = false;
    if (result->error == SL_OK || (result->error == SL_ERR_S3 && body.len > 0)) {
        parsed = sl_ok(sts_parse_assume_role(body.ptr, body.len, &cred, &err, &is_error));
        if (!parsed && result->error == SL_OK) {
            r.error = SL_ERR_PARSE;
            snprintf(detail, sizeof(detail), "AssumeRole: malformed answer: %s", sl_error_detail());
            r.detail = detail;
        }
    }
    if (parsed && is_error) {
        /* an STS error document (also with status 200): its own code and message */
        r.error = SL_ERR_S3;
        r.code = err.code;
        r.code_text = sl_buf_cstr(&err.code_text);
        r.message = sl_buf_cstr(&err.message);
        snprintf(detail, sizeof(detail), "AssumeRole: HTTP %ld %s%s%s", result->status, r.code_text,
                 err.message.len ? ": " : "", r.message);
        r.detail = detail;
    }
    call->done(call->user, &r, r.error == SL_OK ? &cred : NULL);
    sts_credentials_clean_up(&cred);
    s3_error_clean_up(&err);
    sl_free(call);
}

sl_result sts_assume_role(s3_control *control, const sts_assume_role_params *params, sts_assume_role_fn *done,
                          void *user)
{
    ENSURE(control != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "AssumeRole: control client and callback required");
    sl_buf body = { 0 };
    GUARD(sts_assume_role_body(params, &body));
    struct call *call = sl_calloc(1, sizeof(*call));
    call->done = done;
    call->user = user;
    s3_control_spec spec = { .service = "sts",
                             .method = "POST",
                             .content_type = "application/x-www-form-urlencoded; charset=utf-8",
                             .body = sl_cursor_from_buf(&body) };
    sl_result r = s3_control_request(control, &spec, answered, call);
    sl_buf_clean_up(&body);
    if (sl_failed(r)) sl_free(call);
    return r;
}

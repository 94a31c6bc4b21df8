/*
 * yara.c — YARA rules over each object and archive member (checks_impl.h "YARA"), with
 * libyara.
 *
 * Rule files are compiled once per configuration (start and reload), each in its own
 * namespace (its base name), with includes off: a file's version (the SHA-256 of its
 * bytes) then covers every rule it uses. A rule that does not compile names the file,
 * line and libyara's message, and nothing is attached (the daemon does not start; a
 * reload keeps the old configuration).
 *
 * Why the bytes are spooled rather than fed to YARA block by block: YARA evaluates a
 * rule's condition only after the last block, and conditions and modules read bytes at
 * any offset then (uint32(x), pe.*, a string's verification at a block's end), through
 * the blocks again. An iterator that forgot earlier blocks would make those reads
 * undefined and the rule quietly false, and strings that straddle two blocks would go
 * unseen: a silent pass. So the object is kept whole: in memory up to YARA_MEMORY_MAX
 * (256 KiB: most artifacts, without a file), beyond that in an unlinked temporary file
 * written while the GET delivers it (memory stays bounded), at most
 * checks.yara.max_bytes (a larger object is unscannable: an error finding); after the
 * last byte it is scanned whole (the file mapped), within checks.yara.timeout.
 *
 * Findings name the rule and its tags, never the bytes it matched.
 */
#include "checks/checks_impl.h"
#include "checks/rules.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yara.h>

#include "util/alloc.h"

#define YARA_FILE_MAX ((size_t)16 * 1024 * 1024)
#define MATCHES_KEPT 32
/* Objects up to this size are held in memory for the scan; larger ones are spooled. */
#define YARA_MEMORY_MAX ((size_t)256 * 1024)
#define NAME_MAX_SHOWN 200

struct yara_db {
    YR_RULES *rules;
    char *version;
    uint32_t rule_count;
};

/* ---- compiling ---- */

struct compile_ctx {
    checks_errors *errors;
    const char *file;
    int count;
};

static void compile_message(int level, const char *file_name, int line, const YR_RULE *rule, const char *message,
                            void *user)
{
    (void)file_name; /* rules are added as strings: the file is the one being added */
    (void)rule;
    struct compile_ctx *c = user;
    if (level != YARA_ERROR_LEVEL_ERROR) return;
    c->count++;
    rules_errors_add(c->errors, "%s:%d: %s", c->file, line, message ? message : "error");
}

/* The namespace of a file: its base name. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static sl_result version_of(sl_buf *version, const char *path, const sl_buf *text)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[13] = "unknown";
    if (EVP_Digest(text->data, text->len, md, &n, EVP_sha256(), NULL) == 1 && n >= 6)
        for (int i = 0; i < 6; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return sl_buf_appendf(version, "%s%s@%s", version->len > 0 ? ", " : "", base_name(path), hex);
}

/* Adds one file to the compiler; false when it does not compile (reported). */
static bool add_file(YR_COMPILER *compiler, struct compile_ctx *ctx, const char *path, sl_buf *version)
{
    sl_buf text = { 0 };
    if (sl_failed(sl_buf_read_file(&text, path, YARA_FILE_MAX))) {
        rules_errors_add(ctx->errors, "%s: %s", path, sl_error_detail());
        sl_error_clear();
        sl_buf_clean_up(&text);
        return false;
    }
    if (memchr(text.data, '\0', text.len) != NULL) {
        rules_errors_add(ctx->errors, "%s: holds a NUL byte: not a YARA rules file", path);
        sl_buf_clean_up(&text);
        return false;
    }
    if (sl_failed(version_of(version, path, &text)) || sl_failed(sl_buf_append(&text, "", 1))) {
        rules_errors_add(ctx->errors, "%s: %s", path, sl_error_detail());
        sl_error_clear();
        sl_buf_clean_up(&text);
        return false;
    }
    ctx->file = path;
    int before = ctx->count;
    int errors = yr_compiler_add_string(compiler, (const char *)text.data, base_name(path));
    if (errors > 0 && ctx->count == before) rules_errors_add(ctx->errors, "%s: %d errors", path, errors);
    sl_buf_clean_up(&text);
    return errors == 0;
}

sl_result yara_db_new(char *const *files, size_t count, yara_db **out, checks_errors *errors)
{
    *out = NULL;
    ENSURE(yr_initialize() == ERROR_SUCCESS, SL_ERR_UNSUPPORTED, "libyara could not be initialised");
    YR_COMPILER *compiler = NULL;
    if (yr_compiler_create(&compiler) != ERROR_SUCCESS) {
        yr_finalize();
        RAISE(SL_ERR_UNSUPPORTED, "libyara could not create a compiler");
    }
    struct compile_ctx ctx = { .errors = errors };
    yr_compiler_set_callback(compiler, compile_message, &ctx);
    yr_compiler_set_include_callback(compiler, NULL, NULL, NULL); /* includes off */
    sl_buf version = { 0 };
    bool ok = true;
    /* libyara's compiler cannot take more files after an error: stop at the first */
    for (size_t i = 0; i < count && ok; i++) ok = add_file(compiler, &ctx, files[i], &version);
    YR_RULES *rules = NULL;
    if (ok && yr_compiler_get_rules(compiler, &rules) != ERROR_SUCCESS) {
        rules_errors_add(errors, "%s: libyara could not build the rules", count > 0 ? files[0] : "yara");
        ok = false;
    }
    yr_compiler_destroy(compiler);
    if (!ok) {
        sl_buf_clean_up(&version);
        yr_finalize();
        RAISE(SL_ERR_PARSE, "the YARA rules do not compile");
    }
    yara_db *db = sl_calloc(1, sizeof(*db));
    db->rules = rules;
    YR_RULE *rule;
    yr_rules_foreach(rules, rule) db->rule_count++;
    db->version = sl_buf_steal(&version);
    *out = db;
    return SL_SUCCESS;
}

void yara_db_destroy(yara_db *db)
{
    if (db == NULL) return;
    yr_rules_destroy(db->rules);
    sl_free(db->version);
    sl_free(db);
    yr_finalize();
}

const char *yara_db_version(const yara_db *db) { return db->version ? db->version : ""; }

/* ---- scanning ---- */

struct yara_scan {
    const yara_db *db;
    uint64_t max_bytes;
    uint64_t timeout_ms;
    sl_buf held;             /* the bytes while they fit YARA_MEMORY_MAX */
    int fd;                  /* the spool once they do not; -1 before */
    uint64_t spooled;        /* bytes seen */
    bool too_large;
    bool spool_failed;
    bool done;
    int error;               /* libyara's error; ERROR_SUCCESS when the scan finished */
    bool too_many;           /* a string matched more often than libyara keeps */
    char matched[MATCHES_KEPT][NAME_MAX_SHOWN + 1];
    size_t match_count;      /* all matches, also those not kept */
};

yara_scan *yara_scan_new(const yara_db *db, uint64_t max_bytes, uint64_t timeout_ms)
{
    yara_scan *s = sl_calloc(1, sizeof(*s));
    s->db = db;
    s->max_bytes = max_bytes;
    s->timeout_ms = timeout_ms;
    s->fd = -1;
    return s;
}

/* Stops keeping bytes: the scan is an error finding (too large, or the spool failed). */
static void give_up(yara_scan *s, bool too_large)
{
    if (too_large) s->too_large = true;
    else s->spool_failed = true;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    sl_buf_clean_up(&s->held);
}

/* From memory to the spool: the held bytes first (pool thread). */
static bool spill(yara_scan *s)
{
    s->fd = checks_spool_open();
    if (s->fd < 0 || !checks_write_all(s->fd, s->held.data, s->held.len)) return false;
    sl_buf_clean_up(&s->held);
    return true;
}

void yara_scan_feed(yara_scan *s, const uint8_t *data, size_t len)
{
    if (s->too_large || s->spool_failed || len == 0) return;
    if (len > s->max_bytes - s->spooled) {
        give_up(s, true);
        return;
    }
    s->spooled += len;
    if (s->fd < 0 && s->spooled <= YARA_MEMORY_MAX) {
        if (sl_failed(sl_buf_append(&s->held, data, len))) {
            sl_error_clear();
            give_up(s, false);
        }
        return;
    }
    if ((s->fd < 0 && !spill(s)) || !checks_write_all(s->fd, data, len)) give_up(s, false);
}

/* "ns:name [tag, tag]", printable, bounded. */
static void describe(const YR_RULE *rule, char out[NAME_MAX_SHOWN + 1])
{
    sl_buf b = { 0 };
    sl_result r = sl_buf_appendf(&b, "%s:%s", rule->ns && rule->ns->name ? rule->ns->name : "default",
                                 rule->identifier);
    const char *tag;
    bool first = true;
    yr_rule_tags_foreach(rule, tag)
    {
        if (sl_ok(r)) r = sl_buf_appendf(&b, "%s%s", first ? " [" : ", ", tag);
        first = false;
    }
    if (sl_ok(r) && !first) r = sl_buf_appendf(&b, "]");
    if (sl_failed(r)) sl_error_clear(); /* what fitted is shown */
    size_t o = 0;
    for (size_t i = 0; i < b.len && o < NAME_MAX_SHOWN; i++)
        out[o++] = b.data[i] >= 0x20 && b.data[i] < 0x7f ? (char)b.data[i] : '?';
    out[o] = '\0';
    sl_buf_clean_up(&b);
}

static int scan_message(YR_SCAN_CONTEXT *context, int message, void *data, void *user)
{
    (void)context;
    yara_scan *s = user;
    if (message == CALLBACK_MSG_RULE_MATCHING) {
        if (s->match_count < MATCHES_KEPT) describe(data, s->matched[s->match_count]);
        s->match_count++;
    } else if (message == CALLBACK_MSG_TOO_MANY_MATCHES) {
        /* libyara would go on without the rest of the matches: conditions that count
         * them could come out false. Not a verdict. */
        s->too_many = true;
        return CALLBACK_ERROR;
    }
    return CALLBACK_CONTINUE;
}

static int scan_bytes(yara_scan *s, const uint8_t *data, size_t len)
{
    YR_SCANNER *scanner = NULL;
    int e = yr_scanner_create(s->db->rules, &scanner);
    if (e != ERROR_SUCCESS) return e;
    yr_scanner_set_callback(scanner, scan_message, s);
    yr_scanner_set_flags(scanner, SCAN_FLAGS_REPORT_RULES_MATCHING);
    uint64_t seconds = (s->timeout_ms + 999) / 1000;
    yr_scanner_set_timeout(scanner, seconds > 86400 ? 86400 : (int)seconds);
    e = yr_scanner_scan_mem(scanner, data, len);
    yr_scanner_destroy(scanner);
    return e;
}

void yara_scan_finish(yara_scan *s)
{
    if (s->too_large || s->spool_failed) return;
    s->done = true;
    if (s->fd < 0) {
        static const uint8_t none[1];
        s->error = scan_bytes(s, s->held.len > 0 ? s->held.data : none, s->held.len);
        return;
    }
    void *map = mmap(NULL, (size_t)s->spooled, PROT_READ, MAP_PRIVATE, s->fd, 0);
    if (map == MAP_FAILED) {
        s->error = ERROR_COULD_NOT_MAP_FILE;
        return;
    }
    s->error = scan_bytes(s, map, (size_t)s->spooled);
    munmap(map, (size_t)s->spooled);
}

static const char *error_text(const yara_scan *s)
{
    if (s->too_many) return "a string matched more often than YARA keeps (too many matches)";
    switch (s->error) {
    case ERROR_SCAN_TIMEOUT: return "the scan took longer than checks.yara.timeout";
    case ERROR_INSUFFICIENT_MEMORY: return "YARA ran out of memory";
    case ERROR_COULD_NOT_MAP_FILE: return "the spooled bytes could not be mapped";
    case ERROR_TOO_MANY_MATCHES: return "too many matches";
    default: return "libyara failed";
    }
}

sl_result yara_scan_report(const yara_scan *s, findings *out)
{
    if (s->too_large)
        return findings_add(out, "yara", FINDING_ERROR,
                            "more than checks.yara.max_bytes (%llu): not scanned by YARA (unscannable)",
                            (unsigned long long)s->max_bytes);
    if (s->spool_failed) return findings_add(out, "yara", FINDING_ERROR, "the bytes could not be spooled: not scanned");
    if (!s->done) return findings_add(out, "yara", FINDING_ERROR, "the YARA scan did not finish");
    if (s->error != ERROR_SUCCESS || s->too_many)
        return findings_add(out, "yara", FINDING_ERROR, "YARA could not finish: %s (libyara error %d)", error_text(s),
                            s->error);
    for (size_t i = 0; i < s->match_count && i < MATCHES_KEPT; i++)
        GUARD(findings_add(out, "yara", FINDING_FAIL, "rule %s matched", s->matched[i]));
    if (s->match_count > MATCHES_KEPT)
        GUARD(findings_add(out, "yara", FINDING_FAIL, "%zu more rules matched", s->match_count - MATCHES_KEPT));
    if (s->match_count == 0)
        GUARD(findings_add(out, "yara", FINDING_PASS, "no match for %u rules (%s)", s->db->rule_count,
                           yara_db_version(s->db)));
    return SL_SUCCESS;
}

void yara_scan_destroy(yara_scan *s)
{
    if (s == NULL) return;
    if (s->fd >= 0) close(s->fd);
    sl_buf_clean_up(&s->held);
    sl_free(s);
}

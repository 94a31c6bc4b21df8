/*
 * embedded.c — the embedded-content scan (checks_impl.h): signatures of executables,
 * archives, scripts and HTML at any offset of the stream, and bytes after a format's
 * end marker.
 *
 * One Vectorscan database in streaming mode holds every signature (fixed-width byte
 * patterns), so a signature split across two GET chunks is found like any other. A
 * pattern is only a candidate: a confirmation function reads the bytes that follow it
 * (at most CONFIRM_MAX, through the stream view; a candidate near the end of a buffer
 * waits for the next one) and checks what the format requires — an ELF class and
 * type, a PE header where MZ's e_lfanew points, a ZIP header's version, method and name
 * length — so random bytes in compressed data do not count. Each signature keeps a
 * count and its first offset, so memory stays constant.
 *
 * Judging (embedded_scan_report) knows the detected type: a signature at offset 0 is
 * the object's own type (the type check judges it) and later signatures of the same
 * family are its own structure (a ZIP's members and central directory); everything
 * else is a finding whose verdict the route's `checks.embedded` gives per kind. End
 * markers (PNG IEND, JPEG EOI, ZIP end of central directory, PDF %%EOF) are judged for
 * the detected type: bytes after the last one (for PDF, more than whitespace) are
 * trailing data.
 */
#include "checks/checks_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define CONFIRM_MAX ((size_t)1024) /* bytes a confirmation may read after a signature */
#define PENDING_MAX 4096           /* candidates waiting for their bytes */

typedef enum kind { K_EXECUTABLE, K_ARCHIVE, K_SCRIPT, K_HTML, K_END } kind;

typedef enum family { F_NONE, F_ELF, F_PE, F_MACHO, F_ZIP, F_GZIP, F_XZ, F_7Z, F_RAR, F_BZIP2, F_PNG, F_JPEG, F_PDF } family;

/* Confirms a candidate from its first byte; `b` holds what the stream has (maybe less
 * than needed at its end). */
typedef bool confirm_fn(sl_cursor b);

struct signature {
    const char *name;
    kind kind;
    family family;
    const char *pattern; /* Vectorscan syntax, fixed width */
    unsigned width;
    unsigned flags;
    size_t need;         /* bytes from the start that confirm() reads */
    confirm_fn *confirm;
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static bool confirm_elf(sl_cursor b)
{
    if (b.len < 20) return false;
    uint16_t type = b.ptr[5] == 1 ? le16(b.ptr + 16) : (uint16_t)(b.ptr[16] << 8 | b.ptr[17]);
    return type >= 1 && type <= 4; /* relocatable, executable, shared object, core */
}

static bool confirm_pe(sl_cursor b)
{
    if (b.len < 0x40) return false;
    uint32_t lfanew = le32(b.ptr + 0x3c);
    if (lfanew < 0x40 || lfanew > CONFIRM_MAX - 4 || (size_t)lfanew + 4 > b.len) return false;
    return memcmp(b.ptr + lfanew, "PE\0\0", 4) == 0;
}

static bool macho_cpu(uint32_t cpu)
{
    static const uint32_t known[] = { 7, 0x01000007, 12, 0x0100000c, 0x0200000c, 18, 0x01000012 };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (cpu == known[i]) return true;
    return false;
}

static bool confirm_macho_be(sl_cursor b)
{
    return b.len >= 16 && macho_cpu(be32(b.ptr + 4)) && be32(b.ptr + 12) >= 1 && be32(b.ptr + 12) <= 12;
}

static bool confirm_macho_le(sl_cursor b)
{
    return b.len >= 16 && macho_cpu(le32(b.ptr + 4)) && le32(b.ptr + 12) >= 1 && le32(b.ptr + 12) <= 12;
}

/* CAFEBABE is also a Java class file, whose bytes 4..7 (versions) read as >= 45. */
static bool confirm_macho_fat(sl_cursor b)
{
    return b.len >= 16 && be32(b.ptr + 4) >= 1 && be32(b.ptr + 4) <= 20 && macho_cpu(be32(b.ptr + 8));
}

static bool zip_method(uint16_t m)
{
    return m <= 9 || m == 12 || m == 14 || m == 93 || m == 95 || m == 96 || m == 97 || m == 98 || m == 99;
}

static bool confirm_zip_local(sl_cursor b)
{
    if (b.len < 30) return false;
    uint16_t version = le16(b.ptr + 4), method = le16(b.ptr + 8), name = le16(b.ptr + 26);
    return version <= 100 && zip_method(method) && name >= 1 && name <= 1024;
}

static bool confirm_zip_central(sl_cursor b)
{
    if (b.len < 46) return false;
    uint16_t method = le16(b.ptr + 10), name = le16(b.ptr + 28);
    return b.ptr[4] <= 100 && zip_method(method) && name >= 1 && name <= 1024;
}

static bool confirm_zip_end(sl_cursor b) { return b.len >= 22; }

static bool confirm_gzip(sl_cursor b)
{
    return b.len >= 10 && (b.ptr[3] & 0xe0) == 0 && (b.ptr[8] == 0 || b.ptr[8] == 2 || b.ptr[8] == 4) &&
           (b.ptr[9] <= 13 || b.ptr[9] == 255);
}

static bool confirm_xz(sl_cursor b)
{
    return b.len >= 8 && b.ptr[6] == 0 && (b.ptr[7] == 0 || b.ptr[7] == 1 || b.ptr[7] == 4 || b.ptr[7] == 10);
}

static bool confirm_7z(sl_cursor b) { return b.len >= 8 && b.ptr[6] == 0; }

static bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\0'; }

/* "#!" then optional blanks, then an absolute path, then a blank or the line's end. */
static bool confirm_shebang(sl_cursor b)
{
    size_t i = b.len > 0 && b.ptr[0] == '\n' ? 3 : 2;
    while (i < b.len && (b.ptr[i] == ' ' || b.ptr[i] == '\t')) i++;
    if (i >= b.len || b.ptr[i] != '/') return false;
    size_t start = i;
    while (i < b.len && !is_space(b.ptr[i]) && i - start < 128) {
        uint8_t c = b.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
              c == '_' || c == '-' || c == '+'))
            return false;
        i++;
    }
    return i - start >= 2 && (i == b.len || is_space(b.ptr[i]));
}

/* A tag name ends at a blank, ">" or "/". */
static bool confirm_tag(sl_cursor b, size_t name_len)
{
    if (b.len <= name_len) return false;
    uint8_t c = b.ptr[name_len];
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/';
}
static bool confirm_script_tag(sl_cursor b) { return confirm_tag(b, 7); }
static bool confirm_html_tag(sl_cursor b) { return confirm_tag(b, 5); }
static bool confirm_iframe_tag(sl_cursor b) { return confirm_tag(b, 7); }
static bool confirm_object_tag(sl_cursor b) { return confirm_tag(b, 7); }
static bool confirm_embed_tag(sl_cursor b) { return confirm_tag(b, 6); }
static bool confirm_svg_tag(sl_cursor b) { return confirm_tag(b, 4); }

static const struct signature signatures[] = {
    { "ELF executable", K_EXECUTABLE, F_ELF, "\\x7fELF[\\x01\\x02][\\x01\\x02]\\x01", 7, 0, 20, confirm_elf },
    { "PE executable", K_EXECUTABLE, F_PE, "MZ", 2, 0, CONFIRM_MAX, confirm_pe },
    { "Mach-O executable", K_EXECUTABLE, F_MACHO, "\\xfe\\xed\\xfa[\\xce\\xcf]", 4, 0, 16, confirm_macho_be },
    { "Mach-O executable", K_EXECUTABLE, F_MACHO, "[\\xce\\xcf]\\xfa\\xed\\xfe", 4, 0, 16, confirm_macho_le },
    { "Mach-O universal binary", K_EXECUTABLE, F_MACHO, "\\xca\\xfe\\xba\\xbe", 4, 0, 16, confirm_macho_fat },
    { "ZIP", K_ARCHIVE, F_ZIP, "PK\\x03\\x04", 4, 0, 30, confirm_zip_local },
    { "ZIP central directory", K_ARCHIVE, F_ZIP, "PK\\x01\\x02", 4, 0, 46, confirm_zip_central },
    { "gzip", K_ARCHIVE, F_GZIP, "\\x1f\\x8b\\x08", 3, 0, 10, confirm_gzip },
    { "xz", K_ARCHIVE, F_XZ, "\\xfd7zXZ\\x00", 6, 0, 8, confirm_xz },
    { "7z", K_ARCHIVE, F_7Z, "7z\\xbc\\xaf\\x27\\x1c", 6, 0, 8, confirm_7z },
    { "RAR", K_ARCHIVE, F_RAR, "Rar!\\x1a\\x07\\x00", 7, 0, 0, NULL },
    { "RAR", K_ARCHIVE, F_RAR, "Rar!\\x1a\\x07\\x01\\x00", 8, 0, 0, NULL },
    { "bzip2", K_ARCHIVE, F_BZIP2, "BZh[1-9]1AY&SY", 10, 0, 0, NULL },
    { "script (#!)", K_SCRIPT, F_NONE, "\\n#!", 3, 0, 140, confirm_shebang },
    { "HTML <script>", K_HTML, F_NONE, "<script", 7, HS_FLAG_CASELESS, 8, confirm_script_tag },
    { "HTML document", K_HTML, F_NONE, "<html", 5, HS_FLAG_CASELESS, 6, confirm_html_tag },
    { "HTML document", K_HTML, F_NONE, "<!doctype html", 14, HS_FLAG_CASELESS, 0, NULL },
    { "HTML <iframe>", K_HTML, F_NONE, "<iframe", 7, HS_FLAG_CASELESS, 8, confirm_iframe_tag },
    { "HTML <object>", K_HTML, F_NONE, "<object", 7, HS_FLAG_CASELESS, 8, confirm_object_tag },
    { "HTML <embed>", K_HTML, F_NONE, "<embed", 6, HS_FLAG_CASELESS, 7, confirm_embed_tag },
    { "SVG <svg>", K_HTML, F_NONE, "<svg", 4, HS_FLAG_CASELESS, 5, confirm_svg_tag },
    { "PHP", K_HTML, F_NONE, "<?php", 5, HS_FLAG_CASELESS, 0, NULL },
    /* end markers: judged for the detected type only */
    { "PNG end (IEND)", K_END, F_PNG, "IEND\\xaeB`\\x82", 8, 0, 0, NULL },
    { "JPEG end (EOI)", K_END, F_JPEG, "\\xff\\xd9", 2, 0, 0, NULL },
    { "ZIP end of central directory", K_END, F_ZIP, "PK\\x05\\x06", 4, 0, 22, confirm_zip_end },
    { "PDF end (%%EOF)", K_END, F_PDF, "%%EOF", 5, 0, 0, NULL },
};
#define SIGNATURES (sizeof(signatures) / sizeof(signatures[0]))

struct embedded_db {
    hs_database_t *hs;
};

struct hit {
    uint64_t count;
    uint64_t first;  /* stream offset of the first hit past 0 */
    uint64_t last_end; /* K_END: one past the last marker (with a ZIP comment) */
};

struct pending {
    uint32_t sig;
    uint64_t start;
};

struct embedded_scan {
    const embedded_db *db;
    hs_stream_t *stream;
    struct hit hits[SIGNATURES];
    int at_zero;              /* signature found at offset 0, or -1 */
    struct pending *pending;
    size_t pending_count;
    bool pdf_dirty;           /* more than whitespace after the last %%EOF */
    bool failed;
    char error[160];
    /* during one feed */
    const stream_view *view;
    sl_buf slice;
};

/* ---- the database ---- */

sl_result embedded_db_new(embedded_db **out)
{
    const char *patterns[SIGNATURES];
    unsigned flags[SIGNATURES], ids[SIGNATURES];
    for (unsigned i = 0; i < SIGNATURES; i++) {
        patterns[i] = signatures[i].pattern;
        flags[i] = signatures[i].flags | HS_FLAG_DOTALL;
        ids[i] = i;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *err = NULL;
    if (hs_compile_multi(patterns, flags, ids, (unsigned)SIGNATURES, HS_MODE_STREAM, NULL, &db, &err) != HS_SUCCESS) {
        char why[256];
        snprintf(why, sizeof(why), "%s (signature %d)", err ? err->message : "unknown error", err ? err->expression : -1);
        hs_free_compile_error(err);
        RAISE(SL_ERR_UNSUPPORTED, "the embedded-content signatures do not compile: %s", why);
    }
    embedded_db *e = sl_calloc(1, sizeof(*e));
    e->hs = db;
    *out = e;
    return SL_SUCCESS;
}

void embedded_db_destroy(embedded_db *db)
{
    if (db == NULL) return;
    hs_free_database(db->hs);
    sl_free(db);
}

hs_database_t *embedded_db_hs(const embedded_db *db) { return db->hs; }

/* ---- the scan ---- */

embedded_scan *embedded_scan_new(const embedded_db *db)
{
    embedded_scan *s = sl_calloc(1, sizeof(*s));
    s->db = db;
    s->at_zero = -1;
    if (hs_open_stream(db->hs, 0, &s->stream) != HS_SUCCESS) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "Vectorscan could not open a stream");
    }
    return s;
}

void embedded_scan_destroy(embedded_scan *s)
{
    if (s == NULL) return;
    if (s->stream != NULL) (void)hs_close_stream(s->stream, NULL, NULL, NULL);
    sl_free(s->pending);
    sl_buf_clean_up(&s->slice);
    sl_free(s);
}

static void fail(embedded_scan *s, const char *why)
{
    if (!s->failed) snprintf(s->error, sizeof(s->error), "%s", why);
    s->failed = true;
}

/* Confirms and counts a candidate whose bytes are all in view (or the stream ended). */
static void judge(embedded_scan *s, uint32_t sig, uint64_t start)
{
    const struct signature *g = &signatures[sig];
    sl_cursor bytes = { 0 };
    uint64_t at = 0;
    if (g->confirm != NULL) {
        if (sl_failed(view_slice(s->view, start, start + g->need, &s->slice, &bytes, &at)) || at != start) {
            fail(s, "a confirmation window could not be read");
            return;
        }
        if (!g->confirm(bytes)) return;
    }
    /* the script signature starts with the line break before "#!" */
    uint64_t where = g->kind == K_SCRIPT ? start + 1 : start;
    struct hit *h = &s->hits[sig];
    if (g->kind == K_END) {
        uint64_t end = start + g->width;
        if (g->family == F_ZIP && bytes.len >= 22) end = start + 22 + le16(bytes.ptr + 20);
        h->last_end = end;
        h->count++;
        return;
    }
    if (where == 0) {
        s->at_zero = (int)sig;
        return;
    }
    if (h->count++ == 0) h->first = where;
}

static bool ready(const embedded_scan *s, uint32_t sig, uint64_t start)
{
    return s->view->final || start + signatures[sig].need <= view_end(s->view);
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)from;
    (void)flags;
    embedded_scan *s = ctx;
    uint64_t start = to - signatures[id].width;
    if (ready(s, id, start)) {
        judge(s, id, start);
    } else if (s->pending_count == PENDING_MAX) {
        fail(s, "more than 4096 embedded-content candidates waited for their bytes at once");
    } else {
        if (s->pending_count % 64 == 0)
            s->pending = sl_realloc(s->pending, (s->pending_count + 64) * sizeof(*s->pending));
        s->pending[s->pending_count++] = (struct pending){ .sig = id, .start = start };
    }
    return s->failed ? 1 : 0;
}

static void drain_pending(embedded_scan *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->pending_count; i++) {
        struct pending p = s->pending[i];
        if (ready(s, p.sig, p.start)) judge(s, p.sig, p.start);
        else s->pending[kept++] = p;
    }
    s->pending_count = kept;
}

/* PDF: whether more than whitespace follows the last %%EOF. */
static void track_pdf_tail(embedded_scan *s, uint64_t eof_before)
{
    const struct hit *h = NULL;
    for (size_t i = 0; i < SIGNATURES; i++)
        if (signatures[i].family == F_PDF) h = &s->hits[i];
    if (h == NULL || h->count == 0) return;
    const stream_view *v = s->view;
    size_t from = 0;
    if (h->last_end != eof_before) { /* a new %%EOF in this buffer */
        s->pdf_dirty = false;
        from = h->last_end > v->base ? (size_t)(h->last_end - v->base) : 0;
    } else if (s->pdf_dirty) {
        return;
    }
    for (size_t i = from; i < v->len && !s->pdf_dirty; i++)
        if (!is_space(v->data[i])) s->pdf_dirty = true;
}

sl_result embedded_scan_feed(embedded_scan *s, const stream_view *view, hs_scratch_t *scratch)
{
    ENSURE(!s->failed, SL_ERR_STATE, "%s", s->error);
    s->view = view;
    uint64_t pdf_before = 0;
    for (size_t i = 0; i < SIGNATURES; i++)
        if (signatures[i].family == F_PDF) pdf_before = s->hits[i].last_end;
    drain_pending(s);
    if (view->len > 0 && !s->failed) {
        hs_error_t e = hs_scan_stream(s->stream, (const char *)view->data, (unsigned)view->len, 0, scratch, on_match, s);
        if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED) fail(s, "Vectorscan failed to scan");
    }
    if (view->final && s->stream != NULL) {
        hs_error_t e = hs_close_stream(s->stream, scratch, on_match, s);
        s->stream = NULL;
        if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED) fail(s, "Vectorscan failed to close its stream");
        drain_pending(s);
    }
    track_pdf_tail(s, pdf_before);
    s->view = NULL;
    ENSURE(!s->failed, SL_ERR_LIMIT, "%s", s->error);
    return SL_SUCCESS;
}

/* ---- judging ---- */

static sl_embedded_action action_for(const sl_config_checks *route, kind k)
{
    switch (k) {
    case K_EXECUTABLE: return route->embedded.executable;
    case K_ARCHIVE: return route->embedded.archive;
    case K_SCRIPT: return route->embedded.script;
    case K_HTML: return route->embedded.html;
    case K_END: return route->embedded.trailing;
    }
    return SL_EMBEDDED_BLOCK;
}

static finding_verdict verdict_for(sl_embedded_action a)
{
    return a == SL_EMBEDDED_BLOCK ? FINDING_FAIL : a == SL_EMBEDDED_REVIEW ? FINDING_REVIEW : FINDING_PASS;
}

/* The end-marker family the detected type has, or F_NONE. */
static family end_family(const char *detected)
{
    if (strcmp(detected, "image/png") == 0) return F_PNG;
    if (strcmp(detected, "image/jpeg") == 0) return F_JPEG;
    if (strcmp(detected, "application/pdf") == 0) return F_PDF;
    if (strcmp(detected, "application/zip") == 0) return F_ZIP;
    return F_NONE;
}

static sl_result report_trailing(const embedded_scan *s, const sl_config_checks *route, const char *detected,
                                 uint64_t size, findings *out)
{
    family fam = end_family(detected);
    if (fam == F_NONE) return SL_SUCCESS;
    for (size_t i = 0; i < SIGNATURES; i++) {
        const struct signature *g = &signatures[i];
        const struct hit *h = &s->hits[i];
        if (g->kind != K_END || g->family != fam || h->count == 0) continue;
        bool trailing = fam == F_PDF ? s->pdf_dirty : h->last_end < size;
        if (!trailing) continue;
        char at[32], extra[32];
        checks_format_offset(h->last_end, at);
        checks_format_offset(size > h->last_end ? size - h->last_end : 0, extra);
        sl_embedded_action a = action_for(route, K_END);
        return findings_add(out, "embedded", verdict_for(a), "%s bytes after the %s at offset %s (trailing data)%s",
                            extra, g->name, at, a == SL_EMBEDDED_IGNORE ? "; the route ignores trailing data" : "");
    }
    return SL_SUCCESS;
}

sl_result embedded_scan_report(const embedded_scan *s, const sl_config_checks *route, const char *detected,
                               uint64_t size, findings *out)
{
    ENSURE(!s->failed, SL_ERR_STATE, "%s", s->error);
    family own = s->at_zero >= 0 ? signatures[s->at_zero].family : F_NONE;
    size_t reported = 0;
    for (size_t i = 0; i < SIGNATURES; i++) {
        const struct signature *g = &signatures[i];
        const struct hit *h = &s->hits[i];
        if (g->kind == K_END || h->count == 0 || (own != F_NONE && g->family == own)) continue;
        char at[32];
        checks_format_offset(h->first, at);
        sl_embedded_action a = action_for(route, g->kind);
        GUARD(findings_add(out, "embedded", verdict_for(a), "embedded %s at offset %s%s%s", g->name, at,
                           h->count > 1 ? " (and more)" : "",
                           a == SL_EMBEDDED_IGNORE ? "; the route ignores this kind" : ""));
        reported++;
    }
    size_t before = out->count;
    GUARD(report_trailing(s, route, detected, size, out));
    if (reported == 0 && out->count == before)
        GUARD(findings_add(out, "embedded", FINDING_PASS, "no embedded executable, archive, script or HTML"));
    return SL_SUCCESS;
}

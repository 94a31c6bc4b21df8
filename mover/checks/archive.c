/*
 * archive.c — archives inspected with bounds (checks_impl.h "archives"), with libarchive.
 *
 * While the GET delivers the object, bytes that start like an archive (zip, tar, gzip,
 * bzip2, xz, 7z) are written to an unlinked temporary file in TMPDIR (or /tmp), at most
 * the route's archives.max_bytes: memory stays constant, and formats that must seek (7z,
 * a ZIP's central directory) are read like the others. At the end, when libmagic calls
 * the object an archive, every member is read once, in blocks, through the checks a
 * top-level object gets: its type against the route's lists (libmagic on its first
 * bytes), the embedded-content scan, the rules and YARA; a member that is itself an archive
 * is spooled the same way and inspected one level deeper. Findings name the member
 * path ("inner.tar/bin/payload: ...").
 *
 * Bounds, each a finding that stops the inspection at once: members in all
 * (max_members), bytes expanded in all (max_expanded_bytes), expansion against the
 * archive's own size (max_ratio; a member whose declared size already breaks a bound
 * is refused before a byte of it is expanded), and depth (max_depth). An encrypted
 * member, a truncated or unreadable archive, a format libarchive does not read, or an
 * archive above max_bytes is unscannable: an error finding, never a pass.
 */
#include "checks/checks_impl.h"
#include "checks/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "util/alloc.h"

#define BLOCK ((size_t)64 * 1024)
#define MAGIC_HEAD ((size_t)64 * 1024)
/* Expansion below this many bytes is never called a bomb, whatever the ratio. */
#define RATIO_GRACE ((uint64_t)1024 * 1024)
#define PATH_MAX_SHOWN 512
/* Bytes needed to recognise every format (tar's "ustar" at offset 257). */
#define SNIFF_BYTES 262
/* An archive without members is at most this big (a tar's last record). */
#define EMPTY_ARCHIVE_MAX 10240

struct archive_scan {
    const struct checks_route *compiled;
    const sl_config_checks *route;
    checks_magic *magic;
    int fd;             /* the spool; -1 when not an archive candidate */
    bool sniffed;
    bool too_large;
    bool spool_failed;
    uint64_t spooled;
    findings found;
    bool failed;        /* a finding could not be recorded */
};

/* ---- spooling ---- */

static bool looks_like_archive(const uint8_t *d, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        size_t at;
    } starts[] = {
        { "PK\x03\x04", 4, 0 },           { "PK\x05\x06", 4, 0 }, { "PK\x07\x08", 4, 0 }, /* zip */
        { "\x1f\x8b", 2, 0 },             /* gzip */
        { "BZh", 3, 0 },                  /* bzip2 */
        { "\xfd" "7zXZ\x00", 6, 0 },      /* xz */
        { "7z\xbc\xaf\x27\x1c", 6, 0 },   /* 7z */
        { "ustar", 5, 257 },              /* tar (POSIX and GNU) */
    };
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (n >= starts[i].at + starts[i].len && memcmp(d + starts[i].at, starts[i].magic, starts[i].len) == 0)
            return true;
    return false;
}

static bool is_archive_type(const char *mime)
{
    static const char *const types[] = { "application/zip",  "application/x-tar",          "application/gzip",
                                         "application/x-gzip", "application/x-bzip2",       "application/x-xz",
                                         "application/x-7z-compressed", NULL };
    for (size_t i = 0; types[i]; i++)
        if (strcmp(mime, types[i]) == 0) return true;
    return false;
}

archive_scan *archive_scan_new(const struct checks_route *compiled, const sl_config_checks *route, checks_magic *magic)
{
    archive_scan *a = sl_calloc(1, sizeof(*a));
    a->compiled = compiled;
    a->route = route;
    a->magic = magic;
    a->fd = -1;
    return a;
}

void archive_scan_feed(archive_scan *a, const uint8_t *data, size_t len)
{
    if (!a->sniffed && len > 0) {
        a->sniffed = true;
        if (!looks_like_archive(data, len)) return;
        a->fd = checks_spool_open();
        if (a->fd < 0) a->spool_failed = true;
    }
    if (a->fd < 0 || a->too_large || len == 0) return;
    if (len > a->route->archives.max_bytes - a->spooled) {
        a->too_large = true;
        close(a->fd);
        a->fd = -1;
        return;
    }
    if (!checks_write_all(a->fd, data, len)) {
        a->spool_failed = true;
        close(a->fd);
        a->fd = -1;
        return;
    }
    a->spooled += len;
}

/* ---- inspecting ---- */

struct inspect {
    archive_scan *a;
    uint64_t members;
    uint64_t expanded;
    uint64_t ratio_limit; /* expanded bytes allowed by max_ratio */
    unsigned deepest;
    bool stop;            /* a bound or an error ended the inspection */
    uint8_t *block;
};

static void add(struct inspect *in, const char *check, finding_verdict v, const char *fmt, ...) SL_PRINTF(4, 5);
static void add(struct inspect *in, const char *check, finding_verdict v, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (sl_failed(findings_add(&in->a->found, check, v, "%s", detail))) {
        sl_error_clear();
        in->a->failed = true;
    }
    if (v == FINDING_FAIL || v == FINDING_ERROR) in->stop = in->stop || strcmp(check, "archive") == 0;
}

/* "prefix" + the entry's name, printable, bounded. */
static void member_path(const char *prefix, const char *name, char out[PATH_MAX_SHOWN + 1])
{
    size_t o = 0;
    for (const char *s = prefix; *s && o < PATH_MAX_SHOWN; s++) out[o++] = *s;
    for (const unsigned char *s = (const unsigned char *)(name ? name : "?"); *s && o < PATH_MAX_SHOWN; s++)
        out[o++] = *s >= 0x20 && *s < 0x7f ? (char)*s : '?';
    out[o] = '\0';
}

/* Breaks a bound when `more` bytes are added to the expanded total? Adds the finding. */
static bool over_bounds(struct inspect *in, const char *path, uint64_t more, bool declared)
{
    const sl_config_checks *k = in->a->route;
    const char *when = declared ? "declared; refused before expanding it" : "stopped expanding";
    if (more > k->archives.max_expanded_bytes - in->expanded || in->expanded + more > k->archives.max_expanded_bytes) {
        add(in, "archive", FINDING_FAIL, "%s: more than %llu bytes expanded in all (archives.max_expanded_bytes; %s)",
            path, (unsigned long long)k->archives.max_expanded_bytes, when);
        return true;
    }
    if (in->expanded + more > in->ratio_limit) {
        add(in, "archive", FINDING_FAIL,
            "%s: expands more than %u times the archive's %llu bytes (archives.max_ratio): a decompression bomb (%s)",
            path, k->archives.max_ratio, (unsigned long long)in->a->spooled, when);
        return true;
    }
    return false;
}

static void inspect_fd(struct inspect *in, int fd, const char *prefix, unsigned depth);

/* What a member's own checks found, under its path; passes are left out. */
static void copy_findings(struct inspect *in, const findings *f, const char *path)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].verdict != FINDING_PASS)
            add(in, f->items[i].check, f->items[i].verdict, "%s: %s", path, f->items[i].detail);
}

struct member {
    embedded_scan *embedded;
    rules_scan *rules;
    yara_scan *yara; /* the route has YARA files */
    sl_buf history;
    uint8_t head[MAGIC_HEAD];
    size_t head_len;
    uint64_t size;
    int spool;      /* a member that starts like an archive, for the next level */
    bool sniffed;
    bool scan_failed;
};

static void member_scan(struct inspect *in, struct member *m, const uint8_t *d, size_t n, bool final)
{
    if (m->yara != NULL) {
        yara_scan_feed(m->yara, d, n);
        if (final) yara_scan_finish(m->yara);
    }
    if (m->scan_failed) return;
    const struct checks_route *c = in->a->compiled;
    hs_scratch_t *scratch = NULL;
    if (sl_failed(scratch_take(c->scratch, &scratch))) {
        m->scan_failed = true;
        return;
    }
    stream_view v = { .history = m->history.data, .history_len = m->history.len, .data = d, .len = n,
                      .base = m->size - n, .final = final };
    sl_result r = embedded_scan_feed(m->embedded, &v, scratch);
    if (sl_ok(r) && m->rules != NULL) r = rules_scan_feed(m->rules, &v, scratch);
    scratch_give(c->scratch, scratch);
    if (sl_ok(r)) r = history_keep(&m->history, d, n, CHECKS_HISTORY_MAX);
    if (sl_failed(r)) {
        sl_error_clear();
        m->scan_failed = true;
    }
}

/* Once the first bytes are in the head: a member that starts like an archive is
 * spooled for the next level (when there is one). `block` holds the last n bytes. */
static void member_sniff(struct inspect *in, struct member *m, unsigned depth, size_t n)
{
    m->sniffed = true;
    if (!looks_like_archive(m->head, m->head_len) || depth >= in->a->route->archives.max_depth) return;
    /* every byte so far is in the head, except the end of this block once the head is full */
    uint64_t rest = m->size - m->head_len;
    m->spool = checks_spool_open();
    if (m->spool >= 0 &&
        (!checks_write_all(m->spool, m->head, m->head_len) ||
         !checks_write_all(m->spool, in->block + (n - rest), (size_t)rest)))
        m->scan_failed = true;
}

/* Reads one member's bytes through its checks; false when the inspection must stop. */
static bool member_read(struct inspect *in, struct archive *ar, struct member *m, unsigned depth, const char *path)
{
    for (;;) {
        la_ssize_t n = archive_read_data(ar, in->block, BLOCK);
        if (n == 0) {
            if (!m->sniffed) member_sniff(in, m, depth, 0);
            return true;
        }
        if (n < 0) {
            add(in, "archive", FINDING_ERROR, "%s: unreadable: %s (unscannable)", path, archive_error_string(ar));
            in->stop = true;
            return false;
        }
        if (over_bounds(in, path, (uint64_t)n, false)) return false;
        in->expanded += (uint64_t)n;
        m->size += (uint64_t)n;
        if (m->head_len < MAGIC_HEAD) {
            size_t take = (size_t)n < MAGIC_HEAD - m->head_len ? (size_t)n : MAGIC_HEAD - m->head_len;
            memcpy(m->head + m->head_len, in->block, take);
            m->head_len += take;
        }
        if (!m->sniffed) {
            if (m->head_len >= SNIFF_BYTES) member_sniff(in, m, depth, (size_t)n);
        } else if (m->spool >= 0 && !checks_write_all(m->spool, in->block, (size_t)n)) {
            m->scan_failed = true;
        }
        member_scan(in, m, in->block, (size_t)n, false);
    }
}

static void member_judge(struct inspect *in, struct member *m, const char *path, unsigned depth)
{
    const sl_config_checks *k = in->a->route;
    member_scan(in, m, in->block, 0, true);
    char type[128] = "application/x-empty";
    if (m->size > 0 && sl_failed(checks_magic_detect(in->a->magic, m->head, m->head_len, type, sizeof(type)))) {
        sl_error_clear();
        add(in, "archive", FINDING_ERROR, "%s: its type could not be detected (unscannable)", path);
        return;
    }
    const char *why = "";
    if (!checks_type_allowed(k, type, &why)) add(in, "type", FINDING_FAIL, "%s: %s: %s", path, type, why);
    if (m->scan_failed) {
        add(in, "archive", FINDING_ERROR, "%s: the scanners could not finish (unscannable)", path);
        return;
    }
    findings own = { 0 };
    sl_result r = embedded_scan_report(m->embedded, k, type, m->size, &own);
    if (sl_ok(r) && m->rules != NULL) r = rules_scan_report(m->rules, &own);
    if (sl_ok(r) && m->yara != NULL) r = yara_scan_report(m->yara, &own);
    if (sl_failed(r)) {
        sl_error_clear();
        add(in, "archive", FINDING_ERROR, "%s: the scanners' findings could not be recorded", path);
    }
    copy_findings(in, &own, path);
    findings_clean_up(&own);
    if (!is_archive_type(type)) return;
    if (depth >= k->archives.max_depth) {
        add(in, "archive", FINDING_ERROR, "%s: an archive nested deeper than archives.max_depth (%u): unscannable",
            path, k->archives.max_depth);
        return;
    }
    if (m->spool < 0) {
        add(in, "archive", FINDING_ERROR, "%s: a nested archive that could not be spooled (unscannable)", path);
        return;
    }
    char prefix[PATH_MAX_SHOWN + 2];
    snprintf(prefix, sizeof(prefix), "%s/", path);
    inspect_fd(in, m->spool, prefix, depth + 1);
}

static void member(struct inspect *in, struct archive *ar, struct archive_entry *e, const char *path, unsigned depth)
{
    const struct checks_route *c = in->a->compiled;
    struct member *m = sl_calloc(1, sizeof(*m));
    m->spool = -1;
    m->embedded = embedded_scan_new(c->embedded);
    const char *base = strrchr(path, '/');
    if (c->rules != NULL) m->rules = rules_scan_new(c->rules, sl_cursor_from_cstr(base ? base + 1 : path));
    if (c->yara != NULL) m->yara = yara_scan_new(c->yara, in->a->route->yara.max_bytes, in->a->route->yara.timeout_ms);
    (void)e;
    if (member_read(in, ar, m, depth, path)) member_judge(in, m, path, depth);
    embedded_scan_destroy(m->embedded);
    rules_scan_destroy(m->rules);
    yara_scan_destroy(m->yara);
    sl_buf_clean_up(&m->history);
    if (m->spool >= 0) close(m->spool);
    sl_free(m);
}

static const char *kind_of(mode_t type)
{
    switch (type) {
    case AE_IFLNK: return "symbolic link";
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "named pipe";
    case AE_IFSOCK: return "socket";
    default: return "special file";
    }
}

/* One entry; false when the inspection must stop. */
static bool entry(struct inspect *in, struct archive *ar, struct archive_entry *e, const char *prefix, unsigned depth)
{
    const sl_config_checks *k = in->a->route;
    char path[PATH_MAX_SHOWN + 1];
    member_path(prefix, archive_entry_pathname(e), path);
    if (++in->members > k->archives.max_members) {
        add(in, "archive", FINDING_FAIL, "more than %u members (archives.max_members); not inspected further",
            k->archives.max_members);
        return false;
    }
    if (archive_entry_is_encrypted(e)) {
        add(in, "archive", FINDING_ERROR, "%s: encrypted (unscannable)", path);
        return true;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) return true;
    if (type != AE_IFREG && type != 0) {
        add(in, "archive", FINDING_REVIEW, "%s: a %s, not a regular file", path, kind_of(type));
        return true;
    }
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
        over_bounds(in, path, (uint64_t)archive_entry_size(e), true))
        return false;
    member(in, ar, e, path, depth);
    return !in->stop;
}

/* A reader of the spool from its start: the three compressions, and the containers
 * (tar, zip, 7z) when asked; raw always (one compressed file, or the bytes as they
 * are). NULL on error. */
static struct archive *reader_new(int fd, bool containers)
{
    struct archive *ar = archive_read_new();
    if (ar == NULL || lseek(fd, 0, SEEK_SET) != 0) {
        if (ar != NULL) archive_read_free(ar);
        return NULL;
    }
    archive_read_support_filter_gzip(ar);
    archive_read_support_filter_bzip2(ar);
    archive_read_support_filter_xz(ar);
    if (containers) {
        archive_read_support_format_tar(ar);
        archive_read_support_format_zip(ar);
        archive_read_support_format_7zip(ar);
    }
    archive_read_support_format_raw(ar);
    return ar;
}

/* Whether a ZIP ends with its end-of-central-directory record (22 bytes, then a comment
 * of at most 65535): the streaming reader stops quietly at a ZIP cut after a member. */
static bool zip_has_end(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 22) return false;
    size_t tail = st.st_size < 22 + 65535 ? (size_t)st.st_size : 22 + 65535;
    uint8_t *buf = sl_malloc(tail);
    bool found = false;
    if (pread(fd, buf, tail, st.st_size - (off_t)tail) == (ssize_t)tail) {
        for (size_t i = tail - 22 + 1; i-- > 0 && !found;) {
            uint16_t comment = (uint16_t)(buf[i + 20] | buf[i + 21] << 8);
            found = memcmp(buf + i, "PK\x05\x06", 4) == 0 && i + 22 + comment == tail;
        }
    }
    sl_free(buf);
    return found;
}

/* Whether the archive's bytes, decompressed, are more than an empty archive's. */
static bool more_than_empty(struct inspect *in, int fd)
{
    struct archive *ar = reader_new(fd, false);
    if (ar == NULL) return true;
    uint64_t total = 0;
    struct archive_entry *e = NULL;
    bool more = true;
    if (archive_read_open_fd(ar, fd, BLOCK) == ARCHIVE_OK && archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        la_ssize_t n = 0;
        while (total <= EMPTY_ARCHIVE_MAX && (n = archive_read_data(ar, in->block, BLOCK)) > 0) total += (uint64_t)n;
        more = total > EMPTY_ARCHIVE_MAX || n < 0; /* unreadable: never "empty" */
    }
    archive_read_free(ar);
    return more;
}

static void inspect_fd(struct inspect *in, int fd, const char *prefix, unsigned depth)
{
    if (depth > in->deepest) in->deepest = depth;
    struct archive *ar = reader_new(fd, true);
    if (ar == NULL) {
        add(in, "archive", FINDING_ERROR, "%sthe archive could not be opened (unscannable)", prefix);
        return;
    }
    const char *shown = prefix[0] ? prefix : "";
    if (archive_read_open_fd(ar, fd, BLOCK) != ARCHIVE_OK) {
        add(in, "archive", FINDING_ERROR, "%sunreadable: %s (unscannable)", shown, archive_error_string(ar));
        archive_read_free(ar);
        return;
    }
    uint64_t members_before = in->members;
    for (;;) {
        struct archive_entry *e = NULL;
        int r = archive_read_next_header(ar, &e);
        if (r == ARCHIVE_EOF) {
            /* bytes that hold no member (a stream of zeros reads as an empty tar) are
             * bytes nobody looked at */
            if ((archive_format(ar) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP && !zip_has_end(fd)) {
                add(in, "archive", FINDING_ERROR,
                    "%sa ZIP without its end of central directory: truncated (unscannable)", shown);
                in->stop = true;
            } else if (in->members == members_before && more_than_empty(in, fd)) {
                add(in, "archive", FINDING_ERROR, "%sno member in more than %d bytes (unscannable)", shown,
                    EMPTY_ARCHIVE_MAX);
                in->stop = true;
            }
            break;
        }
        if (r < ARCHIVE_WARN) {
            add(in, "archive", FINDING_ERROR, "%sunreadable: %s (unscannable)", shown, archive_error_string(ar));
            in->stop = true;
            break;
        }
        if (archive_format(ar) == ARCHIVE_FORMAT_RAW && archive_filter_count(ar) < 2) {
            add(in, "archive", FINDING_ERROR, "%snot an archive libarchive reads (unscannable)", shown);
            in->stop = true;
            break;
        }
        if (!entry(in, ar, e, prefix, depth)) {
            in->stop = true;
            break;
        }
    }
    archive_read_free(ar);
}

void archive_scan_finish(archive_scan *a)
{
    if (!a->sniffed || (a->fd < 0 && !a->too_large && !a->spool_failed)) return; /* not an archive */
    struct inspect in = { .a = a };
    if (a->spool_failed) {
        add(&in, "archive", FINDING_ERROR, "the archive could not be spooled for inspection: %s (unscannable)",
            strerror(errno));
        return;
    }
    if (a->too_large) {
        add(&in, "archive", FINDING_ERROR, "an archive larger than archives.max_bytes (%llu bytes): unscannable",
            (unsigned long long)a->route->archives.max_bytes);
        return;
    }
    uint8_t *head = sl_malloc(MAGIC_HEAD);
    ssize_t n = pread(a->fd, head, MAGIC_HEAD, 0);
    char type[128] = "";
    bool typed = n > 0 && sl_ok(checks_magic_detect(a->magic, head, (size_t)n, type, sizeof(type)));
    sl_free(head);
    if (!typed) {
        sl_error_clear();
        add(&in, "archive", FINDING_ERROR, "the archive's type could not be detected (unscannable)");
        return;
    }
    if (!is_archive_type(type)) return; /* starts like one, is something else (the type check judges) */
    uint64_t limit = a->spooled * a->route->archives.max_ratio;
    in.ratio_limit = limit / a->route->archives.max_ratio != a->spooled ? UINT64_MAX
                     : limit < RATIO_GRACE                             ? RATIO_GRACE
                                                                       : limit;
    in.block = sl_malloc(BLOCK);
    inspect_fd(&in, a->fd, "", 1);
    sl_free(in.block);
    if (!in.stop)
        add(&in, "archive", FINDING_PASS, "%s: %llu members, %llu bytes expanded, %u level%s deep", type,
            (unsigned long long)in.members, (unsigned long long)in.expanded, in.deepest, in.deepest == 1 ? "" : "s");
}

sl_result archive_scan_report(const archive_scan *a, findings *out)
{
    if (a->failed) return findings_add(out, "archive", FINDING_ERROR, "the archive's findings could not be recorded");
    for (size_t i = 0; i < a->found.count; i++)
        GUARD(findings_add(out, a->found.items[i].check, a->found.items[i].verdict, "%s", a->found.items[i].detail));
    return SL_SUCCESS;
}

void archive_scan_destroy(archive_scan *a)
{
    if (a == NULL) return;
    if (a->fd >= 0) close(a->fd);
    findings_clean_up(&a->found);
    sl_free(a);
}

/*
 * ledger.c — see ledger.h. An id → bitmask-of-states map (strset values) and a ring of
 * the ids in the order they were first noted, for forgetting the oldest. Loading reads
 * the file's tail in one buffer, skips to the first whole line and parses each line with
 * jansson for its "artifact" and "to".
 */
#include "state/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/strset.h"
#include "util/timefmt.h"

_Static_assert(ARTIFACT_STATE_COUNT <= 64, "a state bitmask has 64 bits");

struct audit_ledger {
    strset ids;   /* id -> bitmask of recorded states */
    char (*ring)[SL_ARTIFACT_ID_LEN + 1];
    size_t capacity, next, used;
    int64_t since_ms; /* the window reaches back to here (0: forever) */
};

audit_ledger *audit_ledger_new(size_t capacity)
{
    audit_ledger *l = sl_calloc(1, sizeof(*l));
    l->capacity = capacity ? capacity : 1;
    l->ring = sl_calloc(l->capacity, sizeof(*l->ring));
    return l;
}

void audit_ledger_note(audit_ledger *l, const char *id, artifact_state state)
{
    if (l == NULL || id == NULL || (unsigned)state >= ARTIFACT_STATE_COUNT) return;
    sl_cursor key = sl_cursor_from_cstr(id);
    if (sl_failed(artifact_id_check(key))) {
        sl_error_clear();
        return;
    }
    uint64_t mask = 0;
    if (strset_get(&l->ids, key, &mask)) {
        (void)strset_put(&l->ids, key, mask | (1ull << state), true);
        return;
    }
    if (l->used == l->capacity) { /* forget the oldest: from now on the window is unknown before now */
        (void)strset_remove(&l->ids, sl_cursor_from_cstr(l->ring[l->next]));
        l->since_ms = sl_time_now_ms();
    } else
        l->used++;
    memcpy(l->ring[l->next], id, SL_ARTIFACT_ID_LEN + 1);
    l->next = (l->next + 1) % l->capacity;
    (void)strset_put(&l->ids, key, 1ull << state, true);
}

bool audit_ledger_has(const audit_ledger *l, const char *id, artifact_state state)
{
    uint64_t mask = 0;
    if (l == NULL || id == NULL || (unsigned)state >= ARTIFACT_STATE_COUNT) return false;
    return strset_get(&l->ids, sl_cursor_from_cstr(id), &mask) && (mask & (1ull << state)) != 0;
}

bool audit_ledger_covers(const audit_ledger *l, int64_t time_ms) { return l != NULL && time_ms >= l->since_ms; }

size_t audit_ledger_count(const audit_ledger *l) { return l ? l->ids.count : 0; }

void audit_ledger_free(audit_ledger *l)
{
    if (l == NULL) return;
    strset_clean_up(&l->ids);
    sl_free(l->ring);
    sl_free(l);
}

/* Notes one line; `first` (a cut file's first whole line) sets where the window starts:
 * its record's time (when it has none, it stays at now). */
static void note_line(audit_ledger *l, const char *line, size_t len, bool first)
{
    json_error_t e;
    json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
    if (first) {
        const char *when = rec ? json_string_value(json_object_get(rec, "time")) : NULL;
        if (when != NULL) (void)sl_time_parse(sl_cursor_from_cstr(when), &l->since_ms); /* unchanged: now */
    }
    if (rec == NULL) return; /* not a record: the log's verification says so elsewhere */
    const char *id = json_string_value(json_object_get(rec, "artifact"));
    const char *to = json_string_value(json_object_get(rec, "to"));
    artifact_state state;
    if (id != NULL && to != NULL && artifact_state_from_name(sl_cursor_from_cstr(to), &state))
        audit_ledger_note(l, id, state);
    json_decref(rec);
}

sl_result audit_ledger_load(const char *path, size_t tail_bytes, size_t capacity, audit_ledger **out)
{
    ENSURE(capacity > 0, SL_ERR_INVALID_ARGUMENT, "audit ledger: capacity 0");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *out = audit_ledger_new(capacity);
        return SL_SUCCESS;
    }
    ENSURE(fd >= 0, SL_ERR_IO, "audit ledger: cannot open %s: %s", path, strerror(errno));
    sl_result result = SL_FAILURE;
    char *buf = NULL;
    struct stat st;
    ENSURE_CLEANUP(fstat(fd, &st) == 0, SL_ERR_IO, "audit ledger: cannot stat %s: %s", path, strerror(errno));
    off_t size = st.st_size;
    size_t want = (uint64_t)size < tail_bytes ? (size_t)size : tail_bytes;
    off_t from = size - (off_t)want;
    buf = sl_malloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, from + (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n > 0, SL_ERR_IO, "audit ledger: cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
        got += (size_t)n;
    }
    audit_ledger *l = audit_ledger_new(capacity);
    size_t at = 0;
    bool first = from > 0;
    if (first) l->since_ms = sl_time_now_ms(); /* until the first whole record says when the window starts */
    if (from > 0) { /* the first line is likely cut: start after its end */
        const char *nl = memchr(buf, '\n', got);
        at = nl ? (size_t)(nl - buf) + 1 : got;
    }
    while (at < got) {
        const char *nl = memchr(buf + at, '\n', got - at);
        if (nl == NULL) break; /* a torn tail */
        size_t len = (size_t)(nl - (buf + at));
        if (len > 0) {
            note_line(l, buf + at, len, first);
            first = false;
        }
        at += len + 1;
    }
    *out = l;
    result = SL_SUCCESS;
cleanup:
    sl_free(buf);
    close(fd);
    return result;
}

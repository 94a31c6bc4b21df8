/*
 * show.c — attribution (task_registry_show in tasks.h): a task's story, from its
 * manifest and the audit log.
 *
 * The task manifest is read from S3 (through the manifest store); then the local audit
 * log is read whole on the libuv thread pool, one line at a time (bounded by
 * AUDIT_MAX_LINE; a torn last line — the writer's — is skipped). A line belongs to the
 * task when its "artifact" is the task id (task_open, task_reference_grant, task_close,
 * task_expire: the grants and the task's changes) or when its detail's "staging_key"
 * starts with the task's prefix "<staging_prefix><id>/" — every artifact transition
 * carries the staging key —, and from then on every line about that artifact id (a
 * reviewer's decision). Per object it keeps the last state, where it was promoted, why
 * it ended elsewhere (the last transition's detail), its SHA-256 and its first and last
 * times. The scan works on its own copies; the registry waits for it (`io`).
 */
#include "tasks/tasks_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "state/artifact.h"
#include "util/alloc.h"
#include "util/timefmt.h"

struct object_acc {
    char *artifact, *name, *state, *trusted_key, *reason, *sha256, *findings;
    int64_t first_ms, last_ms;
    size_t records;
};

struct event_acc {
    char *event, *actor, *detail;
    int64_t time_ms;
};

struct show_data {
    struct object_acc *objects;
    size_t object_count, object_cap;
    struct event_acc *events;
    size_t event_count, event_cap;
    uint64_t lines;
    bool truncated;
};

void show_data_free(show_data *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->object_count; i++) {
        struct object_acc *o = &s->objects[i];
        sl_free(o->artifact);
        sl_free(o->name);
        sl_free(o->state);
        sl_free(o->trusted_key);
        sl_free(o->reason);
        sl_free(o->sha256);
        sl_free(o->findings);
    }
    sl_free(s->objects);
    for (size_t i = 0; i < s->event_count; i++) {
        sl_free(s->events[i].event);
        sl_free(s->events[i].actor);
        sl_free(s->events[i].detail);
    }
    sl_free(s->events);
    sl_free(s);
}

void show_data_deliver(const show_data *s, const task_info *task, task_show_fn *fn, void *user)
{
    task_object *objects = sl_calloc(s->object_count ? s->object_count : 1, sizeof(*objects));
    task_event_record *events = sl_calloc(s->event_count ? s->event_count : 1, sizeof(*events));
    for (size_t i = 0; i < s->object_count; i++) {
        const struct object_acc *o = &s->objects[i];
        objects[i] = (task_object){ .artifact = o->artifact, .name = o->name, .state = o->state,
                                    .trusted_key = o->trusted_key, .reason = o->reason, .sha256 = o->sha256,
                                    .findings = o->findings,
                                    .first_ms = o->first_ms, .last_ms = o->last_ms, .records = o->records };
    }
    for (size_t i = 0; i < s->event_count; i++)
        events[i] = (task_event_record){ .event = s->events[i].event, .time_ms = s->events[i].time_ms,
                                         .actor = s->events[i].actor, .detail_json = s->events[i].detail };
    task_report report = { .task = task, .events = events, .event_count = s->event_count, .objects = objects,
                           .object_count = s->object_count, .lines_read = s->lines, .truncated = s->truncated };
    if (fn) fn(user, TASK_OUTCOME_OK, NULL, &report);
    sl_free(objects);
    sl_free(events);
}

/* ---- the scan (thread pool) ---- */

static char *text_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? sl_strdup(s) : NULL;
}

static void replace(char **slot, char *value)
{
    if (value == NULL) return;
    sl_free(*slot);
    *slot = value;
}

static struct object_acc *object_of(show_data *s, const char *artifact, bool create)
{
    for (size_t i = s->object_count; i > 0; i--)
        if (strcmp(s->objects[i - 1].artifact, artifact) == 0) return &s->objects[i - 1];
    if (!create) return NULL;
    if (s->object_count == TASK_SHOW_MAX_OBJECTS) {
        s->truncated = true;
        return NULL;
    }
    if (s->object_count == s->object_cap) {
        s->object_cap = s->object_cap ? s->object_cap * 2 : 16;
        s->objects = sl_realloc(s->objects, s->object_cap * sizeof(*s->objects));
    }
    struct object_acc *o = &s->objects[s->object_count++];
    *o = (struct object_acc){ .artifact = sl_strdup(artifact) };
    return o;
}

/* One audit line: the task's own record, or one about an object of the task. */
static void take_line(show_data *s, const char *task, const char *prefix, const char *line, size_t len)
{
    json_t *rec = json_loadb(line, len, 0, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return;
    }
    const char *artifact = json_string_value(json_object_get(rec, "artifact"));
    const char *time_text = json_string_value(json_object_get(rec, "time"));
    int64_t when = 0;
    if (time_text == NULL || !sl_time_parse(sl_cursor_from_cstr(time_text), &when)) when = 0;
    json_t *detail = json_object_get(rec, "detail");
    if (artifact != NULL && strcmp(artifact, task) == 0) {
        if (s->event_count == TASK_SHOW_MAX_OBJECTS) {
            s->truncated = true;
        } else {
            if (s->event_count == s->event_cap) {
                s->event_cap = s->event_cap ? s->event_cap * 2 : 8;
                s->events = sl_realloc(s->events, s->event_cap * sizeof(*s->events));
            }
            char *dumped = detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            s->events[s->event_count++] = (struct event_acc){ .event = text_of(rec, "event"),
                                                              .actor = text_of(rec, "actor"),
                                                              .detail = dumped ? sl_strdup(dumped) : NULL,
                                                              .time_ms = when };
            free(dumped);
        }
        json_decref(rec);
        return;
    }
    if (artifact == NULL) {
        json_decref(rec);
        return;
    }
    const char *staging_key = json_string_value(json_object_get(detail, "staging_key"));
    size_t n = strlen(prefix);
    bool ours = staging_key != NULL && strncmp(staging_key, prefix, n) == 0;
    struct object_acc *o = object_of(s, artifact, ours);
    if (o == NULL) {
        json_decref(rec);
        return;
    }
    if (o->records++ == 0) o->first_ms = when;
    o->last_ms = when;
    if (o->name == NULL && ours) o->name = sl_strdup(staging_key + n);
    replace(&o->state, text_of(rec, "to"));
    replace(&o->trusted_key, text_of(detail, "trusted_key"));
    replace(&o->sha256, text_of(detail, "sha256"));
    replace(&o->reason, text_of(detail, "detail"));
    json_decref(rec);
}

#define FINDINGS_PARALLEL 8
#define FINDINGS_MAX_OBJECTS 200 /* manifests read for one report */

struct show_job {
    pending base;
    size_t next_object;   /* the next object whose manifest may hold findings */
    size_t manifests_read;
    unsigned running;
    uv_work_t work;
    task_registry *r;
    task_show_fn *done;
    void *user;
    char *id;
    char *path;
    task_copy task;
    show_data *data;
    char failure[REASON_MAX];
};

static void scan(uv_work_t *w)
{
    struct show_job *j = w->data;
    FILE *f = fopen(j->path, "re");
    if (f == NULL) {
        snprintf(j->failure, sizeof(j->failure), "the audit log %s cannot be read: %s", j->path, strerror(errno));
        return;
    }
    j->data = sl_calloc(1, sizeof(*j->data));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        j->data->lines++;
        if ((size_t)got > AUDIT_MAX_LINE + 1 || line[got - 1] != '\n') continue; /* torn or too long */
        take_line(j->data, j->id, j->task.prefix, line, (size_t)got - 1);
    }
    if (ferror(f)) snprintf(j->failure, sizeof(j->failure), "the audit log %s could not be read to its end", j->path);
    free(line);
    fclose(f);
}

static void show_release(pending *p)
{
    struct show_job *j = (struct show_job *)p;
    sl_free(j->id);
    sl_free(j->path);
    task_copy_clean_up(&j->task);
    show_data_free(j->data);
    sl_free(j);
}

static void show_abandon(pending *p)
{
    struct show_job *j = (struct show_job *)p;
    if (p->answered) return;
    p->answered = true;
    j->done(j->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL);
}

static void answer_show(struct show_job *j, task_outcome outcome, const char *detail)
{
    task_registry *r = j->r;
    pending_remove(r, &j->base);
    j->base.answered = true;
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_SHOW;
    c->show_fn = j->done;
    c->user = j->user;
    c->outcome = outcome;
    c->text = detail ? sl_strdup(detail) : NULL;
    if (outcome == TASK_OUTCOME_OK) {
        c->tasks = sl_calloc(1, sizeof(*c->tasks));
        c->tasks[0] = j->task;
        j->task = (task_copy){ 0 };
        c->task_count = 1;
        c->show = j->data;
        j->data = NULL;
    }
    push_completion(r, c);
    show_release(&j->base);
}

/* Objects that ended outside trusted (or wait) have a manifest with their findings. */
static bool has_manifest(const struct object_acc *o)
{
    static const char *const states[] = { "blocked", "rejected", "expired", "failed", "in_review", "purged" };
    for (size_t i = 0; o->state && i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(o->state, states[i]) == 0) return true;
    return false;
}

static void read_findings(struct show_job *j);

struct findings_read {
    struct show_job *job;
    size_t object;
};

static void findings_loaded(void *user, const s3_result *res, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct findings_read *f = user;
    struct show_job *j = f->job;
    task_registry *r = j->r;
    size_t index = f->object;
    sl_free(f);
    j->base.io--;
    j->running--;
    if (!io_back(r)) {
        manifest_store_release(m);
        if (j->base.io == 0) {
            show_release(&j->base);
            maybe_free(r);
        }
        return;
    }
    struct object_acc *o = &j->data->objects[index];
    sl_buf text = { 0 };
    if (res->error == SL_OK && m != NULL) {
        for (size_t i = 0; i < m->finding_count; i++) {
            const artifact_finding *fd = &m->findings[i];
            if (fd->verdict == FINDING_PASS) continue;
            if (sl_failed(sl_buf_appendf(&text, "%s%s %s%s%s", text.len ? "; " : "", fd->check,
                                         finding_verdict_name(fd->verdict), fd->detail ? ": " : "",
                                         fd->detail ? fd->detail : "")))
                break;
        }
    } else if (!(res->error == SL_ERR_S3 && res->code == S3_ERROR_NO_SUCH_KEY)) {
        (void)sl_ok(sl_buf_appendf(&text, "(its manifest could not be read: %s)", res->detail));
    }
    if (text.len > 0) o->findings = sl_buf_steal(&text);
    sl_buf_clean_up(&text);
    manifest_store_release(m);
    read_findings(j);
}

static void read_findings(struct show_job *j)
{
    task_registry *r = j->r;
    manifest_store store = task_store(r);
    while (j->running < FINDINGS_PARALLEL && j->next_object < j->data->object_count &&
           j->manifests_read < FINDINGS_MAX_OBJECTS && !r->client_gone) {
        size_t index = j->next_object++;
        if (!has_manifest(&j->data->objects[index])) continue;
        struct findings_read *f = sl_calloc(1, sizeof(*f));
        f->job = j;
        f->object = index;
        if (sl_failed(manifest_store_load(&store, j->data->objects[index].artifact, findings_loaded, f))) {
            sl_free(f);
            continue;
        }
        j->manifests_read++;
        j->running++;
        j->base.io++;
        r->io++;
        r->stats.reads++;
    }
    if (j->running == 0) answer_show(j, TASK_OUTCOME_OK, NULL);
}

static void scanned(uv_work_t *w, int status)
{
    struct show_job *j = w->data;
    task_registry *r = j->r;
    j->base.io--;
    if (!io_back(r)) {
        show_release(&j->base);
        maybe_free(r);
        return;
    }
    if (status != 0 || j->failure[0] != '\0')
        answer_show(j, TASK_OUTCOME_UNAVAILABLE, j->failure[0] ? j->failure : "the audit log scan was cancelled");
    else
        read_findings(j);
}

static void manifest_read(void *user, const s3_result *res, sl_cursor body, const char *etag)
{
    (void)etag;
    struct show_job *j = user;
    task_registry *r = j->r;
    j->base.io--;
    if (!io_back(r)) {
        show_release(&j->base);
        maybe_free(r);
        return;
    }
    char detail[REASON_MAX];
    if (res->error == SL_ERR_S3 && (res->code == S3_ERROR_NO_SUCH_KEY || res->status == 404)) {
        snprintf(detail, sizeof(detail), "no task %s", j->id);
        answer_show(j, TASK_OUTCOME_NOT_FOUND, detail);
        return;
    }
    if (res->error != SL_OK) {
        snprintf(detail, sizeof(detail), "the task manifest could not be read: %s", res->detail);
        answer_show(j, TASK_OUTCOME_UNAVAILABLE, detail);
        return;
    }
    task_manifest m;
    if (sl_failed(task_manifest_from_json(body, &m))) {
        snprintf(detail, sizeof(detail), "the manifest of task %s is invalid: %s", j->id, sl_error_detail());
        answer_show(j, TASK_OUTCOME_INTERNAL, detail);
        return;
    }
    task_copy_make(r->cfg, &m, &j->task);
    task_manifest_clean_up(&m);
    if (j->task.prefix == NULL) { /* its route is gone: objects are named by its id alone */
        sl_buf p = { 0 };
        if (sl_ok(sl_buf_appendf(&p, "\x01%s/", j->id))) j->task.prefix = sl_buf_steal(&p);
        sl_buf_clean_up(&p);
    }
    j->work.data = j;
    if (j->task.prefix == NULL || uv_queue_work(r->loop, &j->work, scan, scanned) != 0) {
        answer_show(j, TASK_OUTCOME_UNAVAILABLE, "the audit log could not be read");
        return;
    }
    j->base.io++;
    r->io++;
}

sl_result task_registry_show(task_registry *r, const char *id, task_show_fn *done, void *user)
{
    ENSURE(r != NULL && id != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "task_registry_show: id and callback");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_show: the registry is being destroyed");
    char detail[REASON_MAX];
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(id)))) {
        snprintf(detail, sizeof(detail), "no such task: %s", sl_error_detail());
        completion *c = sl_calloc(1, sizeof(*c));
        c->kind = C_SHOW;
        c->show_fn = done;
        c->user = user;
        c->outcome = TASK_OUTCOME_NOT_FOUND;
        c->text = sl_strdup(detail);
        push_completion(r, c);
        return SL_SUCCESS;
    }
    struct show_job *j = sl_calloc(1, sizeof(*j));
    j->base.abandon = show_abandon;
    j->base.release = show_release;
    j->r = r;
    j->done = done;
    j->user = user;
    j->id = sl_strdup(id);
    j->path = sl_strdup(r->cfg->audit_file);
    sl_buf key = { 0 };
    manifest_store store = task_store(r);
    sl_result started = task_manifest_key(&key, r->cfg->control_prefix, id);
    if (sl_ok(started)) started = manifest_store_read(&store, sl_cursor_from_buf(&key), SL_TASK_MAX_JSON, manifest_read, j);
    sl_buf_clean_up(&key);
    if (sl_failed(started)) {
        show_release(&j->base);
        return SL_FAILURE;
    }
    j->base.io++;
    r->io++;
    r->stats.reads++;
    pending_add(r, &j->base);
    return SL_SUCCESS;
}

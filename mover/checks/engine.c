/*
 * engine.c — the compiled checks of one configuration (checks.h): the embedded-content
 * signatures, every rules file the routes name (read and parsed once), one rules
 * database per distinct list of rule sets, the YARA rules of each distinct list of YARA
 * files (yara.c), and one Vectorscan scratch pool that fits every database. Attached to
 * the config it was built for and freed with it, so an artifact in flight keeps the
 * rules it started with across a reload.
 */
#include "checks/rules_impl.h"

#include <stdio.h>
#include <string.h>

#include <magic.h>

#include "util/alloc.h"

struct checks_engine {
    embedded_db *embedded;
    rule_file *files;
    size_t file_count;
    rules_db **dbs;
    size_t db_count;
    scratch_pool *scratch;
    struct checks_route *routes;
    size_t route_count;
    clamd_pool *clamd; /* when a route has checks.clamav */
    yara_db **yaras;   /* one per distinct list of YARA files */
    size_t yara_count;
    char magic_version[32]; /* "libmagic 5.44" */
    char clamd_version[256]; /* clamd's VERSION answer at the last probe, or "" */
};

static void engine_free(void *p)
{
    checks_engine *e = p;
    if (e == NULL) return;
    clamd_pool_destroy(e->clamd);
    for (size_t i = 0; i < e->yara_count; i++) yara_db_destroy(e->yaras[i]);
    sl_free(e->yaras);
    scratch_pool_destroy(e->scratch);
    for (size_t i = 0; i < e->db_count; i++) rules_db_destroy(e->dbs[i]);
    sl_free(e->dbs);
    for (size_t i = 0; i < e->file_count; i++) rule_file_clean_up(&e->files[i]);
    sl_free(e->files);
    embedded_db_destroy(e->embedded);
    sl_free(e->routes);
    sl_free(e);
}

/* The file loaded for `path`, loading it the first time; NULL on error (reported). */
static const rule_file *file_for(checks_engine *e, const char *path, rules_errors *errors)
{
    for (size_t i = 0; i < e->file_count; i++)
        if (strcmp(e->files[i].name, path) == 0) return &e->files[i];
    rule_file f;
    if (sl_failed(rules_file_load(path, &f, errors))) return NULL;
    e->files = sl_realloc(e->files, (e->file_count + 1) * sizeof(*e->files));
    e->files[e->file_count] = f;
    return &e->files[e->file_count++];
}

static bool same_lists(char *const *a, size_t a_count, char *const *b, size_t b_count)
{
    if (a_count != b_count) return false;
    for (size_t i = 0; i < a_count; i++)
        if (strcmp(a[i], b[i]) != 0) return false;
    return true;
}

static bool same_sets(const sl_config_checks *a, const sl_config_checks *b)
{
    return same_lists(a->rule_sets, a->rule_set_count, b->rule_sets, b->rule_set_count);
}

/* The YARA rules of route r: shared with an earlier route naming the same files. */
static bool route_yara(checks_engine *e, const sl_config *config, size_t r, rules_errors *errors)
{
    const sl_config_checks *k = &config->routes[r].checks;
    if (k->rule_count == 0) return true;
    for (size_t i = 0; i < r; i++) {
        const sl_config_checks *o = &config->routes[i].checks;
        if (e->routes[i].yara != NULL && same_lists(o->rules, o->rule_count, k->rules, k->rule_count)) {
            e->routes[r].yara = e->routes[i].yara;
            return true;
        }
    }
    yara_db *db = NULL;
    if (sl_failed(yara_db_new(k->rules, k->rule_count, &db, errors))) {
        sl_error_clear();
        return false;
    }
    e->yaras = sl_realloc(e->yaras, (e->yara_count + 1) * sizeof(*e->yaras));
    e->yaras[e->yara_count++] = db;
    e->routes[r].yara = db;
    return true;
}

static void collect_buckets(const sl_config *config, const char *names[4], size_t *count)
{
    const char *all[] = { config->buckets.staging, config->buckets.quarantine, config->buckets.trusted,
                          config->buckets.control };
    *count = 0;
    for (size_t i = 0; i < 4; i++) {
        if (all[i] == NULL) continue;
        bool seen = false;
        for (size_t k = 0; k < *count; k++) seen = seen || strcmp(names[k], all[i]) == 0;
        if (!seen) names[(*count)++] = all[i];
    }
}

/* The rules database of route r: shared with an earlier route naming the same sets. */
static bool route_rules(checks_engine *e, const sl_config *config, size_t r, const rule_vars *vars,
                        rules_errors *errors)
{
    const sl_config_checks *k = &config->routes[r].checks;
    if (k->rule_set_count == 0) return true;
    for (size_t i = 0; i < r; i++) {
        if (same_sets(&config->routes[i].checks, k) && e->routes[i].rules != NULL) {
            e->routes[r].rules = e->routes[i].rules;
            return true;
        }
    }
    const rule_file **files = sl_calloc(k->rule_set_count, sizeof(*files));
    bool ok = true;
    for (size_t i = 0; i < k->rule_set_count; i++)
        if ((files[i] = file_for(e, k->rule_sets[i], errors)) == NULL) ok = false;
    rules_db *db = NULL;
    if (ok && sl_failed(rules_db_new(files, k->rule_set_count, vars, &db, errors))) ok = false;
    sl_free(files);
    if (!ok) return false;
    e->dbs = sl_realloc(e->dbs, (e->db_count + 1) * sizeof(*e->dbs));
    e->dbs[e->db_count++] = db;
    e->routes[r].rules = db;
    return true;
}

static sl_result make_scratch(checks_engine *e)
{
    hs_database_t **dbs = sl_calloc(e->db_count + 1, sizeof(*dbs));
    dbs[0] = embedded_db_hs(e->embedded);
    for (size_t i = 0; i < e->db_count; i++) dbs[i + 1] = rules_db_hs(e->dbs[i]);
    sl_result r = scratch_pool_new(dbs, e->db_count + 1, &e->scratch);
    sl_free(dbs);
    return r;
}

/* One clamd pool for the routes with checks.clamav (no connection yet). */
static sl_result make_clamd(checks_engine *e, const sl_config *config)
{
    bool needed = false;
    for (size_t r = 0; r < config->route_count; r++) needed = needed || config->routes[r].checks.clamav;
    if (!needed) return SL_SUCCESS;
    clamd_options o = { .socket = config->clamav.socket, .timeout_ms = config->clamav.timeout_ms,
                        .connections = config->clamav.connections };
    return clamd_pool_new(&o, &e->clamd);
}

sl_result checks_engine_attach(sl_config *config, checks_errors *errors)
{
    ENSURE(config->compiled == NULL, SL_ERR_STATE, "the checks are already attached to this configuration");
    size_t before = errors->count;
    checks_engine *e = sl_calloc(1, sizeof(*e));
    e->route_count = config->route_count;
    e->routes = sl_calloc(config->route_count ? config->route_count : 1, sizeof(*e->routes));
    if (sl_failed(embedded_db_new(&e->embedded))) {
        rules_errors_add(errors, "embedded-content signatures: %s", sl_error_detail());
        engine_free(e);
        RAISE(SL_ERR_UNSUPPORTED, "the embedded-content signatures do not compile");
    }
    const char *buckets[4];
    rule_vars vars = { .buckets = buckets };
    collect_buckets(config, buckets, &vars.bucket_count);
    bool ok = true;
    for (size_t r = 0; r < config->route_count; r++) {
        e->routes[r].engine = e;
        e->routes[r].embedded = e->embedded;
        if (!route_rules(e, config, r, &vars, errors)) ok = false;
        if (!route_yara(e, config, r, errors)) ok = false;
    }
    if (ok && sl_failed(make_clamd(e, config))) {
        rules_errors_add(errors, "clamav: %s", sl_error_detail());
        ok = false;
    }
    if (ok && sl_failed(make_scratch(e))) {
        rules_errors_add(errors, "Vectorscan: %s", sl_error_detail());
        ok = false;
    }
    if (!ok) {
        engine_free(e);
        RAISE(SL_ERR_PARSE, "%zu problem%s in the rules: the first: %s", errors->count - before,
              errors->count - before == 1 ? "" : "s", errors->count > before ? errors->items[before] : "?");
    }
    for (size_t r = 0; r < config->route_count; r++) {
        e->routes[r].scratch = e->scratch;
        e->routes[r].rules_version = e->routes[r].rules ? rules_db_version(e->routes[r].rules) : "";
        e->routes[r].clamd = config->routes[r].checks.clamav ? e->clamd : NULL;
        e->routes[r].clamd_max_bytes = config->clamav.max_bytes;
        config->routes[r].checks.compiled = &e->routes[r];
    }
    int mv = magic_version();
    snprintf(e->magic_version, sizeof(e->magic_version), "libmagic %d.%02d", mv / 100, mv % 100);
    config->compiled = e;
    config->compiled_free = engine_free;
    return SL_SUCCESS;
}

const char *checks_rules_version(const sl_config_checks *rules)
{
    return rules->compiled != NULL ? rules->compiled->rules_version : "";
}

const char *checks_version_of(const sl_config_checks *rules, const char *check)
{
    const struct checks_route *c = rules->compiled;
    if (c == NULL) return "";
    if (strcmp(check, "rules") == 0) return c->rules_version;
    if (strcmp(check, "yara") == 0) return c->yara != NULL ? yara_db_version(c->yara) : "";
    if (strcmp(check, "type") == 0) return c->engine->magic_version;
    if (strcmp(check, "clamav") == 0) return c->clamd != NULL ? c->engine->clamd_version : "";
    return "";
}

sl_result checks_set_version(const sl_config_checks *rules, sl_buf *out)
{
    static const char *const parts[] = { "rules", "yara", "clamav" };
    sl_buf text = { 0 };
    sl_result r = SL_FAILURE;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *v = checks_version_of(rules, parts[i]);
        if (v[0] == '\0') continue;
        GUARD_CLEANUP(sl_buf_append_cstr(&text, text.len > 0 ? "; " : ""));
        GUARD_CLEANUP(sl_buf_append_cstr(&text, parts[i]));
        GUARD_CLEANUP(sl_buf_append_cstr(&text, " "));
        GUARD_CLEANUP(sl_buf_append_cstr(&text, v));
    }
    r = sl_buf_append(out, text.data, text.len);
cleanup:
    sl_buf_clean_up(&text);
    return r;
}

sl_cursor checks_version_in(const char *checked_with, const char *check)
{
    sl_cursor rest = sl_cursor_from_cstr(checked_with ? checked_with : "");
    size_t name_len = strlen(check);
    while (rest.len > 0) {
        ptrdiff_t end = sl_cursor_find_byte(rest, ';');
        size_t part_len = end < 0 ? rest.len : (size_t)end;
        sl_cursor part = sl_cursor_from_bytes(rest.ptr, part_len);
        if (part.len > name_len + 1 && memcmp(part.ptr, check, name_len) == 0 && part.ptr[name_len] == ' ')
            return sl_cursor_from_bytes(part.ptr + name_len + 1, part.len - name_len - 1);
        size_t skip = end < 0 ? rest.len : part_len + 1;
        rest = sl_cursor_from_bytes(rest.ptr + skip, rest.len - skip);
        while (rest.len > 0 && rest.ptr[0] == ' ') rest = sl_cursor_from_bytes(rest.ptr + 1, rest.len - 1);
    }
    return (sl_cursor){ 0 };
}

sl_result checks_clamav_probe(const sl_config *config, char *version, size_t version_size)
{
    checks_engine *e = config->compiled;
    ENSURE(e != NULL, SL_ERR_STATE, "the checks are not attached to this configuration");
    snprintf(version, version_size, "%s", "");
    if (e->clamd == NULL) return SL_SUCCESS;
    size_t r = 0;
    while (r < config->route_count && !config->routes[r].checks.clamav) r++;
    if (sl_ok(clamd_pool_probe(e->clamd, version, version_size))) {
        snprintf(e->clamd_version, sizeof(e->clamd_version), "%s", version);
        return SL_SUCCESS;
    }
    char why[512];
    snprintf(why, sizeof(why), "%s", sl_error_detail());
    RAISE(sl_error_last(), "routes[%zu] (%s) requires ClamAV (checks.clamav) but %s", r, config->routes[r].name, why);
}

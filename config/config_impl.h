/*
 * config_impl.h — the configuration's schema tables, shared by the loader (config.c)
 * and the reference generator (config_doc.c). Private to config/: nothing else
 * includes it.
 *
 * One `struct field` per key: how it is parsed and stored (kind, offset, bounds,
 * default) and how it is documented (doc, doc_type, doc_default, c_name). The loader
 * walks the tables to validate a file; config_doc.c walks the same tables to write the
 * key tables of docs/configuration.md and sluice.json(5), and to list every key with the
 * C member it is stored in (for the test that every key is read somewhere). So a key
 * cannot exist without being documented, and the documentation cannot describe a key,
 * default or bound the loader does not have.
 *
 * Threading: the tables are constant; read them from any thread.
 */
#ifndef SLUICE_CONFIG_IMPL_H
#define SLUICE_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"

struct loader; /* config.c's walker state */

typedef char *(*convert_fn)(struct loader *ld, const json_t *value, size_t index);

enum kind {
    K_OBJECT,   /* a nested object: `sub` */
    K_STRING,   /* char *, checked and converted by `convert` */
    K_STRINGS,  /* char ** + size_t count at `count_offset`; each element by `convert` */
    K_BOOL,     /* bool */
    K_ENUM,     /* one of `names`, stored by `set_enum` */
    K_UINT,     /* uint32_t JSON integer within [min, max] */
    K_DURATION, /* uint64_t milliseconds within [min, max] (max 0: none) */
    K_SIZE,     /* uint64_t bytes (uint32_t with F_U32) within [min, max] (max 0: none) */
    K_MODE,     /* uint32_t from an octal string, at most 0777 */
    K_CUSTOM,   /* `parse` does everything; `sub` (optional) is only documented */
};

enum field_flags {
    F_REQUIRED = 1, /* absent: "<path>: required" */
    F_UNIQUE = 2,   /* K_STRINGS: no value twice */
    F_ARGV = 4,     /* K_STRINGS: at least one element, NULL-terminated */
    F_U32 = 8,      /* K_SIZE: stored as uint32_t */
    F_LIST = 16,    /* K_CUSTOM: an array of `sub` objects (for the documentation: "routes[]") */
};

struct schema;

struct field {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t count_offset;
    unsigned flags;
    uint64_t def;        /* K_BOOL, K_ENUM (index), K_UINT, K_DURATION, K_SIZE, K_MODE */
    const char *def_str; /* K_STRING */
    uint64_t min, max;
    const char *max_why; /* appended to an "at most" message */
    const char *const *names;
    void (*set_enum)(void *target, size_t index);
    convert_fn convert;
    const struct schema *sub;
    void (*parse)(struct loader *ld, const json_t *value);

    /* ---- documentation (config_doc.c). Text is a small Markdown subset: `code`,
     * **bold**, [text](#anchor); ASCII plus the few typographic characters config_doc.c
     * knows how to write in roff (— – ≤ ≥ ² ³ ⁴ × →). ---- */
    const char *doc;         /* required: what the key means and how it is checked */
    const char *doc_type;    /* the type column; NULL: derived from kind, names and bounds */
    const char *doc_default; /* the default column; NULL: "required", or derived from def */
    const char *c_name;      /* the member it is stored in ("s3.max_in_flight", "max_bytes"),
                                set by STORED_IN / STORED_AT */
    const char *reads;       /* an extended regular expression matching code that reads the
                                value; NULL: derived from c_name */
};

struct schema {
    const struct field *fields;
    size_t count;
    /* After the object's keys, defaults and required checks; `obj` is the object (NULL
     * when absent or not an object); `clean`: no error was found inside it. */
    void (*finish)(struct loader *ld, const json_t *obj, void *base, bool clean);
    /* The documentation section this object's keys are listed in ("s3",
     * "routes[].checks"); NULL: its keys are listed in the parent's table with the
     * object's name in front ("hook.command"). */
    const char *doc_name;
};

/* The document's top level. */
extern const struct schema sl_config_root_schema;

/* "7d", "90s", "1500ms": the largest unit that divides the value exactly. */
void sl_config_format_duration(uint64_t ms, char *out, size_t size);
/* "5GiB", "1000": binary units only, when one divides the value exactly. */
void sl_config_format_size(uint64_t bytes, char *out, size_t size);

#endif /* SLUICE_CONFIG_IMPL_H */

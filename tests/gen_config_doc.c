/*
 * gen_config_doc.c — keeps the configuration reference equal to the schema tables of
 * config/config.c (through config/config_doc.h): the key tables of
 * docs/configuration.md and the key list of the manual page docs/man/sluice.json.5 are
 * generated blocks inside hand-written prose.
 *
 *   build/tests/gen-config-doc --write docs/configuration.md docs/man/sluice.json.5
 *       regenerate the blocks in place (a file is rewritten only when it changes)
 *   build/tests/gen-config-doc --check docs/configuration.md docs/man/sluice.json.5
 *       exit 0 when every file is what --write would make it; otherwise name the first
 *       differing line of each and exit 1 (the ctest config_doc_current runs this)
 *   build/tests/gen-config-doc --keys
 *       print every key with the C member it is stored in and a regex for code that
 *       reads it (tests/config_keys_read.py uses it)
 *
 * The format follows the file name: *.md is Markdown, anything else roff.
 */
#include <stdio.h>
#include <string.h>

#include "config/config_doc.h"
#include "gen_common.h"
#include "util/buf.h"
#include "util/error.h"

#define REGENERATE "build/tests/gen-config-doc --write docs/configuration.md docs/man/sluice.json.5"
#define FILE_MAX (4u * 1024 * 1024)

static sl_config_doc_format format_of(const char *path)
{
    size_t n = strlen(path);
    return n > 3 && strcmp(path + n - 3, ".md") == 0 ? SL_CONFIG_DOC_MARKDOWN : SL_CONFIG_DOC_ROFF;
}

static int write_file(const char *path, const sl_buf *content)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    bool ok = fwrite(content->data, 1, content->len, f) == content->len;
    if (fclose(f) != 0) ok = false;
    if (!ok) perror(path);
    return ok ? 0 : 1;
}

/* --check or --write one file. */
static int process(const char *path, bool writing)
{
    sl_buf file = { 0 }, updated = { 0 };
    char text[700];
    int status = 1;
    if (sl_failed(sl_buf_read_file(&file, path, FILE_MAX))) {
        fprintf(stderr, "%s: %s\n", path, sl_error_describe(text, sizeof(text)));
        goto out;
    }
    if (sl_failed(sl_config_doc_update(sl_cursor_from_buf(&file), format_of(path), &updated))) {
        fprintf(stderr, "%s: %s\n", path, sl_error_describe(text, sizeof(text)));
        goto out;
    }
    if (sl_cursor_eq(sl_cursor_from_buf(&file), sl_cursor_from_buf(&updated))) {
        status = 0;
    } else if (writing) {
        status = write_file(path, &updated);
        if (status == 0) fprintf(stderr, "gen-config-doc: updated %s\n", path);
    } else {
        status = gen_check_file(&updated, path, "the schema tables in config/config.c", REGENERATE);
    }
out:
    sl_buf_clean_up(&file);
    sl_buf_clean_up(&updated);
    return status;
}

int main(int argc, char **argv)
{
    bool keys = argc == 2 && strcmp(argv[1], "--keys") == 0;
    bool checking = argc >= 3 && strcmp(argv[1], "--check") == 0;
    bool writing = argc >= 3 && strcmp(argv[1], "--write") == 0;
    if (!keys && !checking && !writing) {
        fprintf(stderr, "usage: %s --check FILE... | --write FILE... | --keys\n", argv[0]);
        return 2;
    }
    if (keys) {
        sl_buf out = { 0 };
        char text[700];
        int status = 0;
        if (sl_failed(sl_config_doc_keys(&out))) {
            fprintf(stderr, "gen-config-doc: %s\n", sl_error_describe(text, sizeof(text)));
            status = 1;
        } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
            status = 1;
        }
        sl_buf_clean_up(&out);
        return status;
    }
    int status = 0;
    for (int i = 2; i < argc; i++) status |= process(argv[i], writing);
    return status;
}

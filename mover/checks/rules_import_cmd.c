/*
 * rules_import_cmd.c — `sluice-mover rules import-gitleaks FILE.toml -o FILE.json
 * [--severity block|review]` (commands.h): reads a gitleaks configuration (toml.h),
 * converts it (gitleaks.h), writes the rules file (through a temporary file and a
 * rename, so a half-written file never exists) and lists every rule it could not
 * translate and why. Exit 0 when at least one rule was written, 1 when none could be
 * or the input is not a gitleaks configuration, 2 for a usage error.
 */
#include "checks/commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks/gitleaks.h"
#include "checks/toml.h"
#include "util/alloc.h"
#include "util/buf.h"

static int usage(FILE *err)
{
    fprintf(err, "usage: sluice-mover rules import-gitleaks FILE.toml -o FILE.json [--severity block|review]\n");
    return 2;
}

static int write_rules(json_t *doc, const char *path, FILE *err)
{
    sl_buf tmp = { 0 };
    if (sl_failed(sl_buf_appendf(&tmp, "%s.tmp-%ld", path, (long)getpid()))) return 1;
    int status = 0;
    if (json_dump_file(doc, sl_buf_cstr(&tmp), JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        rename(sl_buf_cstr(&tmp), path) != 0) {
        fprintf(err, "%s: cannot write: %s\n", path, strerror(errno));
        (void)unlink(sl_buf_cstr(&tmp));
        status = 1;
    }
    sl_buf_clean_up(&tmp);
    return status;
}

int rules_import_gitleaks_command(int argc, char **argv, FILE *out, FILE *err)
{
    const char *input = NULL, *output = NULL, *severity = "block";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) output = argv[++i];
        else if (strcmp(argv[i], "--severity") == 0 && i + 1 < argc) severity = argv[++i];
        else if (argv[i][0] != '-' && input == NULL) input = argv[i];
        else return usage(err);
    }
    if (input == NULL || output == NULL || (strcmp(severity, "block") != 0 && strcmp(severity, "review") != 0))
        return usage(err);
    sl_buf text = { 0 };
    if (sl_failed(sl_buf_read_file(&text, input, TOML_MAX_BYTES))) {
        fprintf(err, "%s: %s\n", input, sl_error_detail());
        sl_buf_clean_up(&text);
        return 1;
    }
    json_t *config = NULL;
    char why[256];
    int status = 1;
    gitleaks_result result = { 0 };
    if (sl_failed(toml_parse((const char *)text.data ? (const char *)text.data : "", text.len, &config, why,
                             sizeof(why)))) {
        fprintf(err, "%s:%s\n", input, why);
    } else if (sl_failed(gitleaks_convert(config, severity, &result))) {
        fprintf(err, "%s: %s\n", input, sl_error_detail());
    } else {
        for (size_t i = 0; i < result.note_count; i++) fprintf(out, "note: %s\n", result.notes[i]);
        for (size_t i = 0; i < result.skipped_count; i++)
            fprintf(out, "not translated: %s: %s\n", result.skipped[i].id, result.skipped[i].why);
        if (result.translated == 0) {
            fprintf(err, "%s: no rule could be translated; %s not written\n", input, output);
        } else if (write_rules(result.rules_doc, output, err) == 0) {
            fprintf(out, "%zu rule%s written to %s, %zu not translated\n", result.translated,
                    result.translated == 1 ? "" : "s", output, result.skipped_count);
            status = 0;
        }
    }
    gitleaks_result_clean_up(&result);
    json_decref(config);
    sl_buf_clean_up(&text);
    return status;
}

/*
 * audit_cmd.c — `sluice-review audit verify FILE`: walks an audit log's hash chain with
 * audit_verify_file (mover/audit/audit.h) and names the first bad line.
 *
 * Output: on success one line on stdout, "OK: FILE: N records, chain intact" (exit 0);
 * a broken chain "FILE: line N: <why>" on stdout (exit 1); a file that cannot be read
 * "sluice-review: FILE: <why>" on stderr (exit 1); usage errors on stderr (exit 2).
 */
#include "audit_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "audit_ship_cmd.h"
#include "util/error.h"

enum { EXIT_VERIFIED = 0, EXIT_BAD = 1, EXIT_USAGE_ERROR = 2 };

static void audit_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review audit verify FILE [--shipped -c CONFIG]\n"
            "\n"
            "Checks every line of the audit log FILE (JSON lines, each carrying the SHA-256\n"
            "of the line before it) and names the first line that breaks the chain. With\n"
            "--shipped -c CONFIG, also compares it with the signed segments the daemon shipped\n"
            "to the control prefix and names the first record that is missing or differs.\n"
            "\n"
            "Exit codes: 0 the chain is intact (and matches what was shipped), 1 it is broken,\n"
            "            differs or FILE cannot be read, 2 usage error, 4 (--shipped) the check\n"
            "            could not finish.\n");
}

/* "sluice-review audit: WHAT ['ARG']" and a hint, on stderr. */
static int usage_error(const char *what, const char *arg)
{
    if (arg != NULL) fprintf(stderr, "sluice-review audit: %s '%s'\n", what, arg);
    else fprintf(stderr, "sluice-review audit: %s\n", what);
    fprintf(stderr, "Try: sluice-review audit verify FILE   (sluice-review audit --help)\n");
    return EXIT_USAGE_ERROR;
}

static int verify(const char *path)
{
    uint64_t lines = 0, bad_line = 0;
    sl_error_clear();
    if (sl_ok(audit_verify_file(path, &lines, &bad_line))) {
        printf("OK: %s: %" PRIu64 " records, chain intact\n", path, lines);
        return EXIT_VERIFIED;
    }
    if (sl_error_last() == SL_ERR_PARSE && bad_line > 0) {
        /* the detail already starts with "line N: " */
        printf("%s: %s\n", path, sl_error_detail());
        return EXIT_BAD;
    }
    fprintf(stderr, "sluice-review: %s\n", sl_error_detail());
    return EXIT_BAD;
}

int review_audit_command(int argc, char **argv)
{
    if (argc < 2) return usage_error("missing subcommand", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        audit_usage(stdout);
        return EXIT_VERIFIED;
    }
    if (strcmp(sub, "verify") != 0) return usage_error("unknown subcommand", sub);
    if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        audit_usage(stdout);
        return EXIT_VERIFIED;
    }
    if (argc < 3) return usage_error("verify needs a FILE", NULL);
    if (argc > 3 && strcmp(argv[2], "-") != 0 && argv[2][0] != '-')
        return review_audit_shipped_command(argv[2], argc - 2, argv + 2); /* FILE --shipped -c CONFIG */
    if (argc > 3) return usage_error("verify takes one FILE; unexpected argument", argv[3]);
    if (argv[2][0] == '-' && argv[2][1] != '\0')
        return usage_error("unknown option (for a file named so, write ./FILE)", argv[2]);
    return verify(argv[2]);
}

/*
 * check_config_cmd.c — `sluice-mover check-config -c FILE` (commands.h): the
 * configuration's own validation (every error, with its JSON path), then, for a valid
 * configuration, its rules compiled as the daemon would (every problem, naming the
 * file and rule).
 */
#include "checks/commands.h"

#include "checks/checks.h"
#include "config/config.h"

int checks_config_command(const char *config_file, FILE *out, FILE *err)
{
    sl_config *config = NULL;
    if (sl_failed(sl_config_load(config_file, &config, NULL))) return sl_config_check_command(config_file, out, err);
    checks_errors errors = { 0 };
    bool ok = sl_ok(checks_engine_attach(config, &errors));
    sl_config_free(config);
    if (ok) {
        checks_errors_clean_up(&errors);
        return sl_config_check_command(config_file, out, err);
    }
    for (size_t i = 0; i < errors.count; i++) fprintf(err, "%s\n", errors.items[i]);
    fprintf(err, "%zu error%s\n", errors.count, errors.count == 1 ? "" : "s");
    checks_errors_clean_up(&errors);
    return 1;
}

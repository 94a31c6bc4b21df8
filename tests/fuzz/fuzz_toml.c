/*
 * fuzz_toml.c — libFuzzer target over the TOML reader (mover/checks/toml.c) and the
 * gitleaks conversion (gitleaks.c). Invariants: a document is either read into an
 * object with no message, or refused with a "LINE:COLUMN: what" message and no tree;
 * a converted configuration accounts for every rule (translated + not translated =
 * rules listed) and its document holds exactly the translated rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks/gitleaks.h"
#include "checks/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL;
    char why[256] = "";
    if (sl_failed(toml_parse((const char *)data, size, &doc, why, sizeof(why)))) {
        if (doc != NULL || why[0] < '1' || why[0] > '9' || strchr(why, ':') == NULL) abort();
        return 0;
    }
    if (!json_is_object(doc) || why[0] != '\0') abort();
    json_t *rules = json_object_get(doc, "rules");
    gitleaks_result r;
    /* converting compiles each rule: one small document in eight */
    if (json_is_array(rules) && json_array_size(rules) <= 8 && size < 2048 && data[size / 2] % 8 == 0) {
        if (sl_failed(gitleaks_convert(doc, "block", &r))) abort();
        if (r.translated + r.skipped_count != json_array_size(rules)) abort();
        if (json_array_size(json_object_get(r.rules_doc, "rules")) != r.translated) abort();
        gitleaks_result_clean_up(&r);
    }
    json_decref(doc);
    return 0;
}

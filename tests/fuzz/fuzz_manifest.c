/*
 * fuzz_manifest.c — libFuzzer target over the strict manifest parser
 * (mover/state/manifest.c). Invariants: a parsed manifest writes back (to_json
 * succeeds), and what it writes parses again into the same JSON bytes (a fixed point);
 * a refused document leaves the output zeroed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    artifact_manifest m;
    memset(&m, 0xa5, sizeof(m));
    if (sl_failed(artifact_manifest_from_json(sl_cursor_from_bytes(data, size), &m))) {
        static const artifact_manifest zero;
        if (memcmp(&m, &zero, sizeof(m)) != 0) abort();
        return 0;
    }
    sl_buf once = { 0 }, twice = { 0 };
    if (sl_failed(artifact_manifest_to_json(&m, &once))) abort();
    artifact_manifest again;
    if (sl_failed(artifact_manifest_from_json(sl_cursor_from_buf(&once), &again))) abort();
    if (sl_failed(artifact_manifest_to_json(&again, &twice))) abort();
    if (once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0) abort();
    artifact_manifest_clean_up(&again);
    artifact_manifest_clean_up(&m);
    sl_buf_clean_up(&once);
    sl_buf_clean_up(&twice);
    return 0;
}

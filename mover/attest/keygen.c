/*
 * keygen.c — the `sluice-mover keygen` command (keygen.h) over attest_keygen (keys.h).
 */
#include "attest/keygen.h"

#include "attest/keys.h"
#include "util/error.h"

int attest_keygen_command(const char *prefix, FILE *out, FILE *err)
{
    if (prefix == NULL || prefix[0] == '\0') {
        fprintf(err, "sluice-mover keygen: where to? give -o PREFIX (writes PREFIX.key and PREFIX.pub)\n");
        return 2;
    }
    char key_id[ATTEST_KEY_ID_LEN + 1];
    if (sl_failed(attest_keygen(prefix, key_id))) {
        fprintf(err, "sluice-mover keygen: %s\n", sl_error_detail());
        return 1;
    }
    fprintf(out,
            "key id %s\n"
            "private key %s.key (mode 0600: the daemon's attest.signing_key; keep it secret)\n"
            "public key  %s.pub (attest.trusted_keys, and for consumers: sluice-review verify --key)\n",
            key_id, prefix, prefix);
    return 0;
}

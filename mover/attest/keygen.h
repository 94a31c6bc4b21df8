/*
 * keygen.h — `sluice-mover keygen -o PREFIX`: writes a new Ed25519 signing key pair,
 * PREFIX.key (private, mode 0600) and PREFIX.pub (public), never overwriting a file,
 * and prints the key id. The daemon signs with the .key (attest.signing_key); consumers
 * verify with the .pub (attest.trusted_keys, `sluice-review verify --key`).
 * Threading: a command, run on the main thread.
 */
#ifndef SLUICE_ATTEST_KEYGEN_H
#define SLUICE_ATTEST_KEYGEN_H

#include <stdio.h>

/* Returns the exit status: 0 written (the key id and both paths on `out`), 1 failed
 * (the reason on `err`), 2 no prefix given. */
int attest_keygen_command(const char *prefix, FILE *out, FILE *err);

#endif /* SLUICE_ATTEST_KEYGEN_H */

/*
 * verify_cmd.h — `sluice-review verify`: checks objects in trusted against their
 * attestations, with the consumer's own S3 credentials and no daemon (docs/attestation.md).
 */
#ifndef SLUICE_REVIEW_VERIFY_CMD_H
#define SLUICE_REVIEW_VERIFY_CMD_H

/* argv[0] is "verify". Returns the exit status (0 verified, 1 a verification failed,
 * 2 usage, 4 could not check). */
int review_verify_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_VERIFY_CMD_H */

/*
 * deny_write_exec.c — `deny-write-exec PROGRAM [ARG...]` runs PROGRAM the way systemd's
 * MemoryDenyWriteExecute=yes does: a seccomp filter refuses with EPERM every mmap asking
 * for memory both writable and executable, every mprotect/pkey_mprotect adding
 * PROT_EXEC, and shmat with SHM_EXEC (systemd's own filter; where the kernel has
 * PR_SET_MDWE, newer systemd uses that, which refuses the same requests). Before it runs
 * PROGRAM it checks that a writable and executable mapping is now refused, so a test
 * using it cannot pass without the restriction in force.
 *
 * Used by tests/systemd_unit_test.sh: the unit sets MemoryDenyWriteExecute=yes, and the
 * rules engine must still find what it finds without it (PCRE2 then matches without its
 * JIT, which needs such memory). Needs no privilege (no_new_privs is set first).
 * Exit status: PROGRAM's, or 1 when the filter cannot be installed or does not hold.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "deny_write_exec: add this architecture's AUDIT_ARCH_ value"
#endif

/* The low 32 bits of argument `n` (the protection and flag arguments fit in them). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#else
#define ARG_LOW(n) (offsetof(struct seccomp_data, args) + 8 * (n) + 4)
#endif

#define DENY SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)

static struct sock_filter program[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
    /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS), /* SystemCallArchitectures=native */
    /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 4, 0),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 6, 0),
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 5, 0),
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 7, 0),
    /* 8 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    /* 9: mmap(addr, len, prot, ...) — prot writable and executable */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 6, 7),
    /* 12: mprotect/pkey_mprotect(addr, len, prot, ...) — prot executable */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_EXEC),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_EXEC, 3, 4),
    /* 15: shmat(id, addr, flags) — SHM_EXEC */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, SHM_EXEC),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SHM_EXEC, 0, 1),
    /* 18 */ BPF_STMT(BPF_RET | BPF_K, DENY),
    /* 19 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int deny(void)
{
    struct sock_fprog prog = { .len = sizeof(program) / sizeof(program[0]), .filter = program };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "deny-write-exec: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        fprintf(stderr, "deny-write-exec: installing the seccomp filter: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* The restriction holds: W+X refused, W alone and X alone still allowed. */
static int holds(void)
{
    void *wx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (wx != MAP_FAILED || errno != EPERM) {
        fprintf(stderr, "deny-write-exec: a writable and executable mapping was not refused with EPERM\n");
        return -1;
    }
    void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) {
        fprintf(stderr, "deny-write-exec: a writable mapping was refused: %s\n", strerror(errno));
        return -1;
    }
    int gained = mprotect(w, 4096, PROT_READ | PROT_EXEC);
    int err = errno;
    munmap(w, 4096);
    if (gained == 0 || err != EPERM) {
        fprintf(stderr, "deny-write-exec: making writable memory executable was not refused with EPERM\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: deny-write-exec PROGRAM [ARG...]\n");
        return 1;
    }
    if (deny() != 0 || holds() != 0) return 1;
    execvp(argv[1], argv + 1);
    fprintf(stderr, "deny-write-exec: %s: %s\n", argv[1], strerror(errno));
    return 1;
}

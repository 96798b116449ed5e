/* A companion to libfiu's POSIX preload (`fiu-run -x`): fails one libfiu failure point at its
 * N-th call, and only there, with a chosen errno, so a test can sweep N over a whole run.
 *
 *   RECONCILE_FAULT_POINT   the libfiu point, e.g. posix/io/rw/pwrite
 *   RECONCILE_FAULT_NTH     the call that fails (1-based); 0 counts calls and fails none
 *   RECONCILE_FAULT_ERRNO   the errno the failing call sets (5 EIO, 28 ENOSPC, 13 EACCES, 12 ENOMEM)
 *   RECONCILE_FAULT_REPORT  a file that receives "<calls> <fired>" when the process exits
 *
 * Built by tests/it/faults.rs with `cc -shared -fPIC ... -l:libfiu.so.0`; the prototypes are libfiu's
 * (fiu.h, fiu-control.h), declared here so that its development headers are not needed. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int external_cb_t(const char *name, int *failnum, void **failinfo, unsigned int *flags);
int fiu_init(unsigned int flags);
int fiu_enable_external(const char *name, int failnum, void *failinfo, unsigned int flags, external_cb_t *cb);
int fiu_disable(const char *name);

static long calls;
static long nth;
static int fired;
static const char *point;
static const char *report;

static int decide(const char *name, int *failnum, void **failinfo, unsigned int *flags) {
    (void)name; (void)failnum; (void)failinfo; (void)flags;
    long n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    if (nth > 0 && n == nth) {
        __atomic_store_n(&fired, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    return 0;
}

__attribute__((constructor)) static void start(void) {
    point = getenv("RECONCILE_FAULT_POINT");
    report = getenv("RECONCILE_FAULT_REPORT");
    const char *n = getenv("RECONCILE_FAULT_NTH");
    const char *e = getenv("RECONCILE_FAULT_ERRNO");
    if (point == NULL || n == NULL) return;
    nth = atol(n);
    long err = e ? atol(e) : 5;
    fiu_init(0);
    fiu_enable_external(point, 1, (void *)(intptr_t)err, 0, decide);
}

__attribute__((destructor)) static void finish(void) {
    if (point == NULL || report == NULL) return;
    long total = __atomic_load_n(&calls, __ATOMIC_SEQ_CST);
    fiu_disable(point);
    char line[64];
    int len = snprintf(line, sizeof line, "%ld %d\n", total, fired);
    int fd = open(report, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t)len) < 0) { /* nothing to do */ }
        close(fd);
    }
}

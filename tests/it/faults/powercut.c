/* A power cut, simulated: preloaded into `reconcile`, it keeps for every file under
 * RECONCILE_CUT_DIR a copy of what the file held at its last fsync (under RECONCILE_CUT_SHADOW),
 * and at the RECONCILE_CUT_AT-th fsync (1-based) the process stops dead (_exit, nothing more
 * reaches the disk): the test then rebuilds the directory as a power cut would leave it, each
 * file holding only what was synced. RECONCILE_CUT_AT=0 counts the syncs and cuts nothing; the
 * count goes to RECONCILE_CUT_REPORT at exit.
 *
 * The model: a file's contents are durable only once fsynced; names (creating, renaming and
 * removing files) are durable when the call returns, as a journaling filesystem orders them.
 * A copy is kept per inode, so it follows its file through renames. Built by tests/it/faults.rs
 * with cc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *root, *shadow, *report;
static long cut_at, syncs;
static char *paths[4096];

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);

__attribute__((constructor)) static void start(void) {
    root = getenv("RECONCILE_CUT_DIR");
    shadow = getenv("RECONCILE_CUT_SHADOW");
    report = getenv("RECONCILE_CUT_REPORT");
    const char *k = getenv("RECONCILE_CUT_AT");
    cut_at = k ? atol(k) : 0;
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
}

__attribute__((destructor)) static void finish(void) {
    if (!report) return;
    FILE *f = fopen(report, "w");
    if (f) { fprintf(f, "%ld\n", syncs); fclose(f); }
}

/* The path of `p` relative to the root, or NULL when it is not under it. */
static const char *under(const char *p, char *abs) {
    if (!root || !p) return NULL;
    if (p[0] == '/') snprintf(abs, PATH_MAX, "%s", p);
    else { char cwd[PATH_MAX]; if (!getcwd(cwd, sizeof cwd)) return NULL; snprintf(abs, PATH_MAX, "%s/%s", cwd, p); }
    size_t n = strlen(root);
    if (strncmp(abs, root, n) != 0 || (abs[n] != '/' && abs[n] != 0)) return NULL;
    return abs[n] == '/' ? abs + n + 1 : abs + n;
}

static void remember(int fd, const char *p) {
    char abs[PATH_MAX];
    if (fd < 0 || fd >= 4096) return;
    free(paths[fd]);
    paths[fd] = under(p, abs) ? strdup(abs) : NULL;
}

#define OPEN_WRAPPER(name, ...)                                                    \
    int name(const char *p, int flags, ...) {                                      \
        static int (*real)(const char *, int, ...);                                \
        if (!real) real = dlsym(RTLD_NEXT, #name);                                 \
        mode_t mode = 0;                                                           \
        if (flags & (O_CREAT | O_TMPFILE)) { va_list a; va_start(a, flags); mode = va_arg(a, mode_t); va_end(a); } \
        int fd = real(p, flags, mode);                                             \
        remember(fd, p);                                                           \
        return fd;                                                                 \
    }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                       \
    int name(int dir, const char *p, int flags, ...) {                             \
        static int (*real)(int, const char *, int, ...);                           \
        if (!real) real = dlsym(RTLD_NEXT, #name);                                 \
        mode_t mode = 0;                                                           \
        if (flags & (O_CREAT | O_TMPFILE)) { va_list a; va_start(a, flags); mode = va_arg(a, mode_t); va_end(a); } \
        int fd = real(dir, p, flags, mode);                                        \
        if (dir == AT_FDCWD || p[0] == '/') remember(fd, p);                       \
        else if (dir >= 0 && dir < 4096 && paths[dir]) {                           \
            char joined[PATH_MAX]; snprintf(joined, sizeof joined, "%s/%s", paths[dir], p); remember(fd, joined); \
        }                                                                          \
        return fd;                                                                 \
    }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* The copy of the file with inode `ino`: keyed by inode, so that it follows the file through a
 * rename, whichever call makes it (some are system calls no preload sees). */
static void shadow_of(unsigned long ino, char *out) { snprintf(out, PATH_MAX, "%s/%lu", shadow, ino); }

/* Copies what the file at `abs` holds now to its shadow. */
static void keep(const char *abs) {
    char copy[PATH_MAX];
    struct stat st;
    if (!shadow || stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) return;
    shadow_of((unsigned long)st.st_ino, copy);
    FILE *in = fopen(abs, "rb"), *out = fopen(copy, "wb");
    if (in && out) { char buf[65536]; size_t n; while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out); }
    if (in) fclose(in);
    if (out) fclose(out);
}

static int sync_point(int fd, int (*real)(int)) {
    syncs++;
    if (cut_at > 0 && syncs == cut_at) {
        finish();
        _exit(137); /* the power is cut: this sync never completes */
    }
    int rc = real(fd);
    if (rc == 0 && fd >= 0 && fd < 4096 && paths[fd]) keep(paths[fd]);
    return rc;
}

int fsync(int fd) { return sync_point(fd, real_fsync); }
int fdatasync(int fd) { return sync_point(fd, real_fdatasync); }

int unlink(const char *p) {
    char x[PATH_MAX], copy[PATH_MAX];
    struct stat st;
    int known = under(p, x) && shadow && stat(p, &st) == 0;
    int rc = real_unlink(p);
    /* The inode may be given to a new file: its copy goes with the name. */
    if (rc == 0 && known) { shadow_of((unsigned long)st.st_ino, copy); real_unlink(copy); }
    return rc;
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < 4096) { free(paths[fd]); paths[fd] = NULL; }
    return real(fd);
}

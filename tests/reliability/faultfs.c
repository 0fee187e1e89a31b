/*
 * faultfs: an LD_PRELOAD shim that makes write, fsync and rename fail with a chosen errno, on purpose.
 *
 * Used by tests/reliability/test_io_faults.py (reliability D4) on a real jsonserve process. Only
 * calls on files under one directory are affected, and only while a control file says so:
 *
 *   FAULTFS_DIR      absolute directory; only files in it (or it itself, for a folder fsync) are faulted
 *   FAULTFS_CONTROL  control file; absent or empty = disarmed. One line:
 *                        GEN OPS ERRNO AFTER COUNT MATCH
 *                    GEN    a generation number: the call counters restart when it changes
 *                    OPS    comma list of write, fsync, rename
 *                    ERRNO  the errno to fail with (28 ENOSPC, 5 EIO)
 *                    AFTER  matching calls let through before the first failure
 *                    COUNT  how many calls to fail (-1: forever after)
 *                    MATCH  a substring the path must contain, or - for any; NAME$: the path ends with NAME
 *   FAULTFS_LOG      every injected failure appends "op errno path" here (so a test cannot pass vacuously)
 *
 * Intercepted: write, pwrite, pwrite64, writev, pwritev, pwritev64 (op "write"); fsync, fdatasync
 * ("fsync"); rename, renameat, renameat2 ("rename"). Python's os.write / os.fsync / os.fdatasync /
 * os.replace and SQLite's unix VFS all reach these through libc. A file descriptor's path is read
 * from /proc/self/fd; a relative rename path is taken relative to the working directory.
 *
 * Build: cc -shared -fPIC -O2 -o faultfs.so faultfs.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*fsync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned int);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long seen_gen = -1;
static long calls = 0;   /* matching calls since GEN changed */
static long failed = 0;  /* failures injected since GEN changed */

static void *next(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        abort();
    }
    return symbol;
}

/* Whether PATH is one MATCH names: "-" any, "NAME$" a path ending with NAME, else one containing MATCH. */
static int matches(const char *path, const char *match) {
    size_t length = strlen(match);
    if (strcmp(match, "-") == 0) {
        return 1;
    }
    if (length > 1 && match[length - 1] == '$') {
        size_t have = strlen(path);
        return have >= length - 1 && strncmp(path + have - (length - 1), match, length - 1) == 0;
    }
    return strstr(path, match) != NULL;
}

/* The directory's path, without a trailing slash; NULL when the shim is not configured. */
static const char *fault_dir(void) {
    const char *dir = getenv("FAULTFS_DIR");
    return dir && *dir ? dir : NULL;
}

static int under(const char *dir, const char *path) {
    size_t length = strlen(dir);
    while (length > 1 && dir[length - 1] == '/') {
        length--;
    }
    return strncmp(path, dir, length) == 0 && (path[length] == '\0' || path[length] == '/');
}

static int fd_path(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n < 0) {
        return -1;
    }
    out[n] = '\0';
    return 0;
}

/* ``path`` made absolute: relative to ``dirfd`` (or the working directory for AT_FDCWD). */
static int absolute(int dirfd, const char *path, char *out, size_t size) {
    char base[PATH_MAX];
    if (path[0] == '/') {
        snprintf(out, size, "%s", path);
        return 0;
    }
    if (dirfd == AT_FDCWD) {
        if (getcwd(base, sizeof base) == NULL) {
            return -1;
        }
    } else if (fd_path(dirfd, base, sizeof base) != 0) {
        return -1;
    }
    snprintf(out, size, "%s/%s", base, path);
    return 0;
}

static void record(const char *op, int error, const char *path) {
    const char *log = getenv("FAULTFS_LOG");
    if (log == NULL || *log == '\0') {
        return;
    }
    static write_fn real_write;
    if (real_write == NULL) {
        real_write = (write_fn)next("write");
    }
    char line[PATH_MAX + 64];
    int length = snprintf(line, sizeof line, "%s %d %s\n", op, error, path);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        real_write(fd, line, (size_t)length);
        close(fd);
    }
}

/* The errno to fail this call with, or 0 to let it through. */
static int decide(const char *op, const char *path) {
    const char *dir = fault_dir();
    const char *control = getenv("FAULTFS_CONTROL");
    if (dir == NULL || control == NULL || !under(dir, path)) {
        return 0;
    }
    int saved = errno;
    char text[512] = {0};
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return 0;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    errno = saved;
    long gen, after, count;
    int error;
    char ops[128], match[256];
    if (n <= 0 || sscanf(text, "%ld %127s %d %ld %ld %255s", &gen, ops, &error, &after, &count, match) != 6) {
        return 0;
    }
    char wanted[140];
    snprintf(wanted, sizeof wanted, ",%s,", ops);
    char mine[32];
    snprintf(mine, sizeof mine, ",%s,", op);
    if (strstr(wanted, mine) == NULL || !matches(path, match)) {
        return 0;
    }
    int fail = 0;
    pthread_mutex_lock(&lock);
    if (gen != seen_gen) {
        seen_gen = gen;
        calls = 0;
        failed = 0;
    }
    calls++;
    if (calls > after && (count < 0 || failed < count)) {
        failed++;
        fail = 1;
    }
    pthread_mutex_unlock(&lock);
    if (!fail) {
        return 0;
    }
    record(op, error, path);
    return error;
}

static int decide_fd(const char *op, int fd) {
    char path[PATH_MAX];
    if (fault_dir() == NULL || fd_path(fd, path, sizeof path) != 0 || path[0] != '/') {
        return 0;
    }
    return decide(op, path);
}

static int decide_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    char path[PATH_MAX];
    if (fault_dir() == NULL) {
        return 0;
    }
    /* The target decides (a temporary file renamed over the data file); else the source. */
    if (absolute(newdirfd, newpath, path, sizeof path) == 0 && under(fault_dir(), path)) {
        return decide("rename", path);
    }
    if (absolute(olddirfd, oldpath, path, sizeof path) == 0) {
        return decide("rename", path);
    }
    return 0;
}

#define FAIL_WITH(error, value) \
    do {                        \
        errno = (error);        \
        return (value);         \
    } while (0)

ssize_t write(int fd, const void *buffer, size_t size) {
    static write_fn real;
    if (real == NULL) real = (write_fn)next("write");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, buffer, size);
}

ssize_t pwrite(int fd, const void *buffer, size_t size, off_t offset) {
    static pwrite_fn real;
    if (real == NULL) real = (pwrite_fn)next("pwrite");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, buffer, size, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t size, off_t offset) {
    static pwrite_fn real;
    if (real == NULL) real = (pwrite_fn)next("pwrite64");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, buffer, size, offset);
}

ssize_t writev(int fd, const struct iovec *vector, int count) {
    static writev_fn real;
    if (real == NULL) real = (writev_fn)next("writev");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, vector, count);
}

ssize_t pwritev(int fd, const struct iovec *vector, int count, off_t offset) {
    static pwritev_fn real;
    if (real == NULL) real = (pwritev_fn)next("pwritev");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, vector, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec *vector, int count, off_t offset) {
    static pwritev_fn real;
    if (real == NULL) real = (pwritev_fn)next("pwritev64");
    int error = decide_fd("write", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd, vector, count, offset);
}

int fsync(int fd) {
    static fsync_fn real;
    if (real == NULL) real = (fsync_fn)next("fsync");
    int error = decide_fd("fsync", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd);
}

int fdatasync(int fd) {
    static fsync_fn real;
    if (real == NULL) real = (fsync_fn)next("fdatasync");
    int error = decide_fd("fsync", fd);
    if (error) FAIL_WITH(error, -1);
    return real(fd);
}

int rename(const char *oldpath, const char *newpath) {
    static rename_fn real;
    if (real == NULL) real = (rename_fn)next("rename");
    int error = decide_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath);
    if (error) FAIL_WITH(error, -1);
    return real(oldpath, newpath);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    static renameat_fn real;
    if (real == NULL) real = (renameat_fn)next("renameat");
    int error = decide_rename(olddirfd, oldpath, newdirfd, newpath);
    if (error) FAIL_WITH(error, -1);
    return real(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    static renameat2_fn real;
    if (real == NULL) real = (renameat2_fn)next("renameat2");
    int error = decide_rename(olddirfd, oldpath, newdirfd, newpath);
    if (error) FAIL_WITH(error, -1);
    return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* LD_PRELOAD shim for T03 (power-loss replay, docs/testing.md): logs every
 * write to and every sync of LMDB's data.mdb, in order, to the file named by
 * $PORTD_WRITE_LOG, so that the test can rebuild the states a power cut could
 * leave behind (as ALICE and SQLite's crash VFS do).
 *
 * Record (native endianness): u32 kind, u32 fd, u64 offset, u64 length, then
 * `length` bytes of data for writes.
 *   WL_WRITE         a write that succeeded (only the bytes written)
 *   WL_DSYNC_WRITE   the same through an O_DSYNC/O_SYNC fd: durable on return
 *   WL_SYNC          fsync/fdatasync on a data.mdb fd
 *   WL_MSYNC         msync of anything (LMDB uses it only with MDB_WRITEMAP,
 *                    which portd never sets; the test asserts none appear)
 *   WL_OPEN          data.mdb opened (offset = open flags)
 * Each record is one write(2) to an O_APPEND fd, made before the intercepted
 * call returns, so the log's size when the daemon's reply reaches the test
 * covers everything the daemon did to the file before replying.
 *
 * LMDB 0.9.24 (Debian 12) writes pages with pwrite or lseek+writev on its
 * main fd, syncs it with fdatasync, then writes the meta page with pwrite on
 * a second fd opened O_DSYNC. The other calls are covered for safety. */
#define _GNU_SOURCE
/* Both open() and open64() etc. are defined below; with 64-bit file offsets
 * (meson's default) the headers would rename one onto the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { WL_WRITE = 1, WL_DSYNC_WRITE = 2, WL_SYNC = 3, WL_MSYNC = 4, WL_OPEN = 5 };
enum { MAX_FDS = 4096 };

struct wl_header {
  uint32_t kind;
  uint32_t fd;
  uint64_t offset;
  uint64_t length;
};

/* 0: not data.mdb; 1: data.mdb; 2: data.mdb opened O_DSYNC/O_SYNC. */
static unsigned char tracked[MAX_FDS];
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;

static int is_data_mdb(const char* path) {
  size_t n = path ? strlen(path) : 0;
  return n >= 8 && strcmp(path + n - 8, "data.mdb") == 0;
}

static int kind_of(int fd) {
  return fd >= 0 && fd < MAX_FDS ? tracked[fd] : 0;
}

/* Writes all of `len` bytes with the raw syscall (never through our own
 * write() wrapper). Called with log_mutex held. */
static void raw_write_all(const void* p, size_t len) {
  const char* c = p;
  while (len > 0) {
    long n = syscall(SYS_write, log_fd, c, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abort(); /* a silent gap would make the replay lie */
    c += n;
    len -= (size_t)n;
  }
}

static void open_log_locked(void) {
  if (log_fd >= 0) return;
  const char* path = getenv("PORTD_WRITE_LOG");
  if (!path) abort();
  log_fd =
      (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) abort();
}

static void log_record(uint32_t kind, int fd, uint64_t offset, const struct iovec* iov, int iovcnt,
                       size_t length) {
  struct wl_header h = {kind, (uint32_t)fd, offset, length};
  int saved = errno;
  pthread_mutex_lock(&log_mutex);
  open_log_locked();
  /* One buffer, one write: the record lands whole. */
  size_t total = sizeof h + length;
  char* buf = malloc(total);
  if (!buf) abort();
  memcpy(buf, &h, sizeof h);
  size_t at = sizeof h, left = length;
  for (int i = 0; i < iovcnt && left > 0; ++i) {
    size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
    memcpy(buf + at, iov[i].iov_base, take);
    at += take;
    left -= take;
  }
  raw_write_all(buf, total);
  free(buf);
  pthread_mutex_unlock(&log_mutex);
  errno = saved;
}

static void log_write(int fd, uint64_t offset, const struct iovec* iov, int iovcnt, ssize_t n) {
  if (n <= 0) return;
  uint32_t kind = kind_of(fd) == 2 ? WL_DSYNC_WRITE : WL_WRITE;
  log_record(kind, fd, offset, iov, iovcnt, (size_t)n);
}

/* The next definition of `name` (libc's). Through memcpy because ISO C
 * has no conversion from dlsym's void* to a function pointer. */
#define DEFINE_REAL(name)                      \
  static __typeof__(&name) real_##name(void) { \
    static __typeof__(&name) fp;               \
    if (!fp) {                                 \
      void* p = dlsym(RTLD_NEXT, #name);       \
      if (!p) abort();                         \
      memcpy(&fp, &p, sizeof fp);              \
    }                                          \
    return fp;                                 \
  }
DEFINE_REAL(open)
DEFINE_REAL(open64)
DEFINE_REAL(openat)
DEFINE_REAL(openat64)
DEFINE_REAL(close)
DEFINE_REAL(pwrite)
DEFINE_REAL(pwrite64)
DEFINE_REAL(write)
DEFINE_REAL(writev)
DEFINE_REAL(pwritev)
DEFINE_REAL(pwritev64)
DEFINE_REAL(pwritev2)
DEFINE_REAL(fsync)
DEFINE_REAL(fdatasync)
DEFINE_REAL(msync)
#define REAL(name) real_##name()

static void track(int fd, const char* path, int flags) {
  if (fd < 0 || fd >= MAX_FDS) return;
  if (!is_data_mdb(path)) {
    tracked[fd] = 0;
    return;
  }
  tracked[fd] = (flags & (O_DSYNC | O_SYNC)) ? 2 : 1;
  log_record(WL_OPEN, fd, (uint64_t)flags, NULL, 0, 0);
}

static mode_t mode_arg(int flags, va_list ap) {
  int wants_mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  return wants_mode ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(open)(path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(open64)(path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(openat)(dirfd, path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(openat64)(dirfd, path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int close(int fd) {
  if (fd >= 0 && fd < MAX_FDS) tracked[fd] = 0;
  return REAL(close)(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  ssize_t n = REAL(pwrite)(fd, buf, count, offset);
  if (kind_of(fd)) {
    struct iovec v = {(void*)buf, count};
    log_write(fd, (uint64_t)offset, &v, 1, n);
  }
  return n;
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  ssize_t n = REAL(pwrite64)(fd, buf, count, offset);
  if (kind_of(fd)) {
    struct iovec v = {(void*)buf, count};
    log_write(fd, (uint64_t)offset, &v, 1, n);
  }
  return n;
}

ssize_t write(int fd, const void* buf, size_t count) {
  if (!kind_of(fd)) return REAL(write)(fd, buf, count);
  off_t at = lseek(fd, 0, SEEK_CUR);
  ssize_t n = REAL(write)(fd, buf, count);
  struct iovec v = {(void*)buf, count};
  log_write(fd, (uint64_t)at, &v, 1, n);
  return n;
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  if (!kind_of(fd)) return REAL(writev)(fd, iov, iovcnt);
  off_t at = lseek(fd, 0, SEEK_CUR);
  ssize_t n = REAL(writev)(fd, iov, iovcnt);
  log_write(fd, (uint64_t)at, iov, iovcnt, n);
  return n;
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  ssize_t n = REAL(pwritev)(fd, iov, iovcnt, offset);
  if (kind_of(fd)) log_write(fd, (uint64_t)offset, iov, iovcnt, n);
  return n;
}

ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off64_t offset) {
  ssize_t n = REAL(pwritev64)(fd, iov, iovcnt, offset);
  if (kind_of(fd)) log_write(fd, (uint64_t)offset, iov, iovcnt, n);
  return n;
}

ssize_t pwritev2(int fd, const struct iovec* iov, int iovcnt, off_t offset, int flags) {
  ssize_t n = REAL(pwritev2)(fd, iov, iovcnt, offset, flags);
  /* RWF_DSYNC/RWF_SYNC make this one write durable. */
  if (kind_of(fd) && n > 0) {
    uint32_t kind =
        (kind_of(fd) == 2 || (flags & (RWF_DSYNC | RWF_SYNC))) ? WL_DSYNC_WRITE : WL_WRITE;
    log_record(kind, fd, (uint64_t)offset, iov, iovcnt, (size_t)n);
  }
  return n;
}

int fsync(int fd) {
  int rc = REAL(fsync)(fd);
  if (rc == 0 && kind_of(fd)) log_record(WL_SYNC, fd, 0, NULL, 0, 0);
  return rc;
}

int fdatasync(int fd) {
  int rc = REAL(fdatasync)(fd);
  if (rc == 0 && kind_of(fd)) log_record(WL_SYNC, fd, 0, NULL, 0, 0);
  return rc;
}

int msync(void* addr, size_t length, int flags) {
  int rc = REAL(msync)(addr, length, flags);
  if (rc == 0) log_record(WL_MSYNC, -1, (uint64_t)(uintptr_t)addr, NULL, 0, 0);
  return rc;
}

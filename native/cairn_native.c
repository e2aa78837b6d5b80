// Cairn's native functions: the few system calls Node's fs module does not offer (mknod for FIFOs
// and device nodes, extended attributes, nanosecond timestamps). Node-API only, so one build
// serves every Node version; errors are thrown as Error objects carrying the errno name in
// `code`, like Node's own.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <stdint.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "EINVAL", "invalid arguments: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *name = strerrorname_np(err);
  char message[4352];
  snprintf(message, sizeof message, "%s: %s, %s '%s'", name ? name : "EUNKNOWN", strerror(err), syscall, path);
  napi_throw_error(env, name ? name : "EUNKNOWN", message);
  return NULL;
}

/** Reads argument i as a UTF-8 string into a malloc'ed buffer (caller frees). */
static char *get_string(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *buf = malloc(len + 1);
  if (!buf) return NULL;
  if (napi_get_value_string_utf8(env, value, buf, len + 1, &len) != napi_ok) {
    free(buf);
    return NULL;
  }
  return buf;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// mknod(path, mode, major, minor): mode carries the file type (S_IFIFO, S_IFCHR, S_IFBLK).
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t mode, major_, minor_;
  CHECK(napi_get_value_uint32(env, argv[1], &mode));
  CHECK(napi_get_value_uint32(env, argv[2], &major_));
  CHECK(napi_get_value_uint32(env, argv[3], &minor_));
  char *path = get_string(env, argv[0]);
  if (!path) return throw_errno(env, ENOMEM, "mknod", "");
  int rc = mknod(path, (mode_t)mode, makedev(major_, minor_));
  napi_value result = rc == 0 ? undefined(env) : throw_errno(env, errno, "mknod", path);
  free(path);
  return result;
}

// lgetxattrs(path) -> [[name, Buffer], ...] without following a symlink.
static napi_value js_lgetxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *path = get_string(env, argv[0]);
  if (!path) return throw_errno(env, ENOMEM, "llistxattr", "");
  napi_value out;
  napi_create_array(env, &out);
  ssize_t size = llistxattr(path, NULL, 0);
  if (size < 0) {
    int err = errno;
    if (err == ENOTSUP) {
      free(path);
      return out;
    }
    napi_value r = throw_errno(env, err, "llistxattr", path);
    free(path);
    return r;
  }
  char *names = malloc(size > 0 ? (size_t)size : 1);
  size = size > 0 ? llistxattr(path, names, (size_t)size) : 0;
  if (size < 0) {
    napi_value r = throw_errno(env, errno, "llistxattr", path);
    free(names);
    free(path);
    return r;
  }
  uint32_t index = 0;
  for (char *name = names; name < names + size; name += strlen(name) + 1) {
    ssize_t vlen = lgetxattr(path, name, NULL, 0);
    if (vlen < 0) {
      if (errno == ENODATA) continue;  // removed since it was listed
      napi_value r = throw_errno(env, errno, "lgetxattr", path);
      free(names);
      free(path);
      return r;
    }
    void *data = NULL;
    napi_value buffer;
    if (napi_create_buffer(env, (size_t)vlen, &data, &buffer) != napi_ok) break;
    if (vlen > 0 && lgetxattr(path, name, data, (size_t)vlen) < 0) {
      if (errno == ENODATA) continue;
      napi_value r = throw_errno(env, errno, "lgetxattr", path);
      free(names);
      free(path);
      return r;
    }
    napi_value pair, jsname;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jsname);
    napi_set_element(env, pair, 0, jsname);
    napi_set_element(env, pair, 1, buffer);
    napi_set_element(env, out, index++, pair);
  }
  free(names);
  free(path);
  return out;
}

// lsetxattr(path, name, Buffer)
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  size_t len = 0;
  CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  char *path = get_string(env, argv[0]);
  char *name = get_string(env, argv[1]);
  napi_value result;
  if (!path || !name) result = throw_errno(env, ENOMEM, "lsetxattr", "");
  else if (lsetxattr(path, name, data, len, 0) != 0) result = throw_errno(env, errno, "lsetxattr", path);
  else result = undefined(env);
  free(path);
  free(name);
  return result;
}

static int get_timespec(napi_env env, napi_value sec, napi_value nsec, struct timespec *ts) {
  int64_t s;
  uint32_t ns;
  if (napi_get_value_int64(env, sec, &s) != napi_ok) return -1;
  if (napi_get_value_uint32(env, nsec, &ns) != napi_ok || ns > 999999999u) return -1;
  ts->tv_sec = (time_t)s;
  ts->tv_nsec = (long)ns;
  return 0;
}

// lutimesNs(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): utimensat without following symlinks.
static napi_value js_lutimes_ns(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct timespec ts[2];
  if (get_timespec(env, argv[1], argv[2], &ts[0]) || get_timespec(env, argv[3], argv[4], &ts[1])) {
    napi_throw_error(env, "EINVAL", "invalid time");
    return NULL;
  }
  char *path = get_string(env, argv[0]);
  if (!path) return throw_errno(env, ENOMEM, "utimensat", "");
  napi_value result = utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0 ? undefined(env)
                                                                              : throw_errno(env, errno, "utimensat", path);
  free(path);
  return result;
}

// futimesNs(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec)
static napi_value js_futimes_ns(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  struct timespec ts[2];
  if (get_timespec(env, argv[1], argv[2], &ts[0]) || get_timespec(env, argv[3], argv[4], &ts[1])) {
    napi_throw_error(env, "EINVAL", "invalid time");
    return NULL;
  }
  if (futimens(fd, ts) != 0) return throw_errno(env, errno, "futimens", "(descriptor)");
  return undefined(env);
}

static napi_value number(napi_env env, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  return n;
}

// ficlone(srcFd, dstFd): the whole source shares its blocks with the destination.
static napi_value js_ficlone(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t src, dst;
  CHECK(napi_get_value_int32(env, argv[0], &src));
  CHECK(napi_get_value_int32(env, argv[1], &dst));
  if (ioctl(dst, FICLONE, src) != 0) return throw_errno(env, errno, "ioctl(FICLONE)", "(descriptor)");
  return undefined(env);
}

// ficloneRange(srcFd, srcOffset, length, dstFd, dstOffset): length 0 means to the source's end.
static napi_value js_ficlone_range(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t src, dst;
  int64_t src_off, len, dst_off;
  CHECK(napi_get_value_int32(env, argv[0], &src));
  CHECK(napi_get_value_int64(env, argv[1], &src_off));
  CHECK(napi_get_value_int64(env, argv[2], &len));
  CHECK(napi_get_value_int32(env, argv[3], &dst));
  CHECK(napi_get_value_int64(env, argv[4], &dst_off));
  struct file_clone_range r = {.src_fd = src, .src_offset = (__u64)src_off, .src_length = (__u64)len, .dest_offset = (__u64)dst_off};
  if (ioctl(dst, FICLONERANGE, &r) != 0) return throw_errno(env, errno, "ioctl(FICLONERANGE)", "(descriptor)");
  return undefined(env);
}

// seekData(fd, offset) / seekHole(fd, offset): the next data or hole at or after offset; -1 when
// there is none (ENXIO: past the end).
static napi_value seek(napi_env env, napi_callback_info info, int whence, const char *name) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  int64_t off;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int64(env, argv[1], &off));
  off_t r = lseek(fd, (off_t)off, whence);
  if (r < 0) {
    if (errno == ENXIO) return number(env, -1);
    return throw_errno(env, errno, name, "(descriptor)");
  }
  return number(env, (double)r);
}

static napi_value js_seek_data(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_DATA, "lseek(SEEK_DATA)"); }
static napi_value js_seek_hole(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_HOLE, "lseek(SEEK_HOLE)"); }

// copyFileRange(srcFd, srcOffset, dstFd, dstOffset, length) -> bytes copied (may be fewer).
static napi_value js_copy_file_range(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t src, dst;
  int64_t src_off, dst_off, len;
  CHECK(napi_get_value_int32(env, argv[0], &src));
  CHECK(napi_get_value_int64(env, argv[1], &src_off));
  CHECK(napi_get_value_int32(env, argv[2], &dst));
  CHECK(napi_get_value_int64(env, argv[3], &dst_off));
  CHECK(napi_get_value_int64(env, argv[4], &len));
  loff_t in = (loff_t)src_off, out = (loff_t)dst_off;
  ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)len, 0);
  if (n < 0) return throw_errno(env, errno, "copy_file_range", "(descriptor)");
  return number(env, (double)n);
}

// scanDir(path) -> Promise<{ names, stats, errors, xattrs }>: one folder listed and every entry's
// lstat taken on a thread of libuv's pool, so a walk costs one round trip per folder rather than
// one per file. stats is a BigInt64Array of SCAN_FIELDS values per entry (see SCAN_* below);
// errors an Int32Array (0, or the errno of the entry's lstat); xattrs an Int32Array (0: the entry
// has no extended attributes, 1: it has some, or a negative errno of llistxattr).
enum {
  SCAN_MODE, SCAN_UID, SCAN_GID, SCAN_NLINK, SCAN_INO, SCAN_DEV, SCAN_RDEV, SCAN_SIZE,
  SCAN_ATIME_S, SCAN_ATIME_NS, SCAN_MTIME_S, SCAN_MTIME_NS, SCAN_CTIME_S, SCAN_CTIME_NS, SCAN_FIELDS
};

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int err;               // opendir/readdir failure
  size_t count, cap;
  char **names;
  int64_t *stats;
  int32_t *errors;
  int32_t *xattrs;
} scan_t;

static void scan_free(scan_t *s) {
  for (size_t i = 0; i < s->count; i++) free(s->names[i]);
  free(s->names);
  free(s->stats);
  free(s->errors);
  free(s->xattrs);
  free(s->path);
  free(s);
}

static void scan_execute(napi_env env, void *data) {
  scan_t *s = data;
  DIR *d = opendir(s->path);
  if (!d) {
    s->err = errno;
    return;
  }
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    if (s->count == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 64;
      char **names = realloc(s->names, cap * sizeof *names);
      if (!names) {
        s->err = ENOMEM;
        closedir(d);
        return;
      }
      s->names = names;
      s->cap = cap;
    }
    s->names[s->count] = strdup(e->d_name);
    if (!s->names[s->count]) {
      s->err = ENOMEM;
      closedir(d);
      return;
    }
    s->count++;
    errno = 0;
  }
  if (errno != 0) {
    s->err = errno;
    closedir(d);
    return;
  }
  size_t n = s->count ? s->count : 1;
  s->stats = calloc(n * SCAN_FIELDS, sizeof *s->stats);
  s->errors = calloc(n, sizeof *s->errors);
  s->xattrs = calloc(n, sizeof *s->xattrs);
  size_t plen = strlen(s->path);
  char *full = malloc(plen + 2 + 256);
  if (!s->stats || !s->errors || !s->xattrs || !full) {
    s->err = ENOMEM;
    free(full);
    closedir(d);
    return;
  }
  memcpy(full, s->path, plen);
  size_t base = plen;
  if (plen == 0 || s->path[plen - 1] != '/') full[base++] = '/';
  int fd = dirfd(d);
  for (size_t i = 0; i < s->count; i++) {
    struct stat st;
    if (fstatat(fd, s->names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      s->errors[i] = errno;
      continue;
    }
    int64_t *f = s->stats + i * SCAN_FIELDS;
    f[SCAN_MODE] = st.st_mode;
    f[SCAN_UID] = st.st_uid;
    f[SCAN_GID] = st.st_gid;
    f[SCAN_NLINK] = (int64_t)st.st_nlink;
    f[SCAN_INO] = (int64_t)st.st_ino;
    f[SCAN_DEV] = (int64_t)st.st_dev;
    f[SCAN_RDEV] = (int64_t)st.st_rdev;
    f[SCAN_SIZE] = st.st_size;
    f[SCAN_ATIME_S] = st.st_atim.tv_sec;
    f[SCAN_ATIME_NS] = st.st_atim.tv_nsec;
    f[SCAN_MTIME_S] = st.st_mtim.tv_sec;
    f[SCAN_MTIME_NS] = st.st_mtim.tv_nsec;
    f[SCAN_CTIME_S] = st.st_ctim.tv_sec;
    f[SCAN_CTIME_NS] = st.st_ctim.tv_nsec;
    size_t nlen = strlen(s->names[i]);
    memcpy(full + base, s->names[i], nlen + 1);
    ssize_t size = llistxattr(full, NULL, 0);
    s->xattrs[i] = size > 0 ? 1 : size == 0 ? 0 : (errno == ENOTSUP || errno == ENODATA) ? 0 : -errno;
  }
  free(full);
  closedir(d);
}

static void scan_complete(napi_env env, napi_status status, void *data) {
  scan_t *s = data;
  napi_value result;
  if (status != napi_ok || s->err != 0) {
    int err = status != napi_ok ? EINTR : s->err;
    const char *name = strerrorname_np(err);
    // Worded as Node's own fs errors (libuv lowercases strerror's first letter).
    char text[256];
    snprintf(text, sizeof text, "%s", strerror(err));
    if (text[0] >= 'A' && text[0] <= 'Z') text[0] = (char)(text[0] - 'A' + 'a');
    char message[4352];
    snprintf(message, sizeof message, "%s: %s, scandir '%s'", name ? name : "EUNKNOWN", text, s->path);
    napi_value msg, code, error;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &error);
    napi_set_named_property(env, error, "code", code);
    napi_reject_deferred(env, s->deferred, error);
  } else {
    napi_create_object(env, &result);
    napi_value names, stats_ab, stats, errors_ab, errors, xattrs_ab, xattrs;
    napi_create_array_with_length(env, s->count, &names);
    for (size_t i = 0; i < s->count; i++) {
      napi_value name;
      napi_create_string_utf8(env, s->names[i], NAPI_AUTO_LENGTH, &name);
      napi_set_element(env, names, (uint32_t)i, name);
    }
    void *p;
    size_t sb = s->count * SCAN_FIELDS * sizeof(int64_t);
    napi_create_arraybuffer(env, sb, &p, &stats_ab);
    if (sb) memcpy(p, s->stats, sb);
    napi_create_typedarray(env, napi_bigint64_array, s->count * SCAN_FIELDS, stats_ab, 0, &stats);
    napi_create_arraybuffer(env, s->count * sizeof(int32_t), &p, &errors_ab);
    if (s->count) memcpy(p, s->errors, s->count * sizeof(int32_t));
    napi_create_typedarray(env, napi_int32_array, s->count, errors_ab, 0, &errors);
    napi_create_arraybuffer(env, s->count * sizeof(int32_t), &p, &xattrs_ab);
    if (s->count) memcpy(p, s->xattrs, s->count * sizeof(int32_t));
    napi_create_typedarray(env, napi_int32_array, s->count, xattrs_ab, 0, &xattrs);
    napi_set_named_property(env, result, "names", names);
    napi_set_named_property(env, result, "stats", stats);
    napi_set_named_property(env, result, "errors", errors);
    napi_set_named_property(env, result, "xattrs", xattrs);
    napi_resolve_deferred(env, s->deferred, result);
  }
  napi_delete_async_work(env, s->work);
  scan_free(s);
}

static napi_value js_scan_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  scan_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, ENOMEM, "scandir", "");
  s->path = get_string(env, argv[0]);
  if (!s->path) {
    free(s);
    return throw_errno(env, ENOMEM, "scandir", "");
  }
  napi_value promise, resource;
  CHECK(napi_create_promise(env, &s->deferred, &promise));
  napi_create_string_utf8(env, "cairn:scandir", NAPI_AUTO_LENGTH, &resource);
  CHECK(napi_create_async_work(env, NULL, resource, scan_execute, scan_complete, s, &s->work));
  CHECK(napi_queue_async_work(env, s->work));
  return promise;
}

/*
 * mallopt(M_MMAP_THRESHOLD, bytes): allocations of at least this size get pages of their own,
 * returned to the system when freed. glibc raises its threshold to the size of each such block
 * freed (up to 32 MiB), after which 16 MiB packs come from the arenas and their freed memory stays
 * in the process. Setting it fixes it. Returns false where this is not glibc or it was refused.
 */
static napi_value js_malloc_mmap_threshold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t bytes = 0;
  CHECK(napi_get_value_int64(env, argv[0], &bytes));
  bool ok = false;
#ifdef __GLIBC__
  if (bytes > 0 && bytes <= INT32_MAX) ok = mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1;
#endif
  napi_value result;
  CHECK(napi_get_boolean(env, ok, &result));
  return result;
}

/*
 * FastCDC's cut rule (src/chunker/fastcdc.ts, docs/repository-format.md section 11) in C, for the
 * chunker's hot loop: gearCut(buf, gear, scanned, minSize, avgSize, maxSize, strict, loose, final)
 * returns exactly what FastCdcChunker.cut returns in JavaScript. gear is the table as 256 int32;
 * strict and loose are the masks as int32. Arithmetic is on uint32, which is what the JavaScript's
 * `| 0` on int32 computes bit for bit.
 */
static napi_value js_gear_cut(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) {
    napi_throw_type_error(env, "EINVAL", "gearCut takes 9 arguments");
    return NULL;
  }
  napi_typedarray_type btype, gtype;
  size_t n = 0, glen = 0;
  void *bdata = NULL, *gdata = NULL;
  CHECK(napi_get_typedarray_info(env, argv[0], &btype, &n, &bdata, NULL, NULL));
  CHECK(napi_get_typedarray_info(env, argv[1], &gtype, &glen, &gdata, NULL, NULL));
  if (btype != napi_uint8_array || gtype != napi_int32_array || glen != 256) {
    napi_throw_type_error(env, "EINVAL", "gearCut: a Uint8Array and a gear table of 256 int32");
    return NULL;
  }
  int64_t scanned, min_size, avg_size, max_size;
  int32_t strict_mask, loose_mask;
  bool final = false;
  CHECK(napi_get_value_int64(env, argv[2], &scanned));
  CHECK(napi_get_value_int64(env, argv[3], &min_size));
  CHECK(napi_get_value_int64(env, argv[4], &avg_size));
  CHECK(napi_get_value_int64(env, argv[5], &max_size));
  CHECK(napi_get_value_int32(env, argv[6], &strict_mask));
  CHECK(napi_get_value_int32(env, argv[7], &loose_mask));
  CHECK(napi_get_value_bool(env, argv[8], &final));
  if (min_size < 32 || avg_size <= min_size || max_size <= avg_size) {
    napi_throw_range_error(env, "EINVAL", "gearCut: need 32 <= minSize < avgSize < maxSize");
    return NULL;
  }
  const uint8_t *buf = bdata;
  const uint32_t *gear = gdata;
  const uint32_t strict = (uint32_t)strict_mask, loose = (uint32_t)loose_mask;
  int64_t limit = (int64_t)n < max_size ? (int64_t)n : max_size;
  int64_t result;
  if (limit <= min_size) {
    result = final ? limit : 0;
  } else {
    int64_t from = scanned > min_size ? (scanned < limit ? scanned : limit) : min_size;
    uint32_t fp = 0;
    int64_t i = from - 32;
    for (; i < from; i++) fp = (fp << 1) + gear[buf[i]];
    int64_t normal = avg_size < limit ? avg_size : limit;
    result = -1;
    for (; i < normal; i++) {
      fp = (fp << 1) + gear[buf[i]];
      if ((fp & strict) == 0) {
        result = i + 1;
        break;
      }
    }
    if (result < 0) {
      for (; i < limit; i++) {
        fp = (fp << 1) + gear[buf[i]];
        if ((fp & loose) == 0) {
          result = i + 1;
          break;
        }
      }
    }
    if (result < 0) result = (limit == max_size || final) ? limit : 0;
  }
  napi_value out;
  CHECK(napi_create_int64(env, result, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattrs", NULL, js_lgetxattrs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lutimesNs", NULL, js_lutimes_ns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futimesNs", NULL, js_futimes_ns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ficlone", NULL, js_ficlone, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ficloneRange", NULL, js_ficlone_range, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, js_seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, js_seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyFileRange", NULL, js_copy_file_range, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scanDir", NULL, js_scan_dir, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mallocMmapThreshold", NULL, js_malloc_mmap_threshold, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gearCut", NULL, js_gear_cut, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

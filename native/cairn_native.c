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
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

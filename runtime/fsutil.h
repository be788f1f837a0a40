/*
 * fsutil: the file-system chores several modules need the same way:
 * creating a directory with its parents, removing a tree, writing a whole
 * buffer, copying a file.  Written once here rather than per module.
 *
 *   fs_mkdir_p(path, mode, err)    every missing directory of path, mode each
 *   fs_rm_rf(path)                 the tree at path, links not followed; 0 when gone
 *   fs_write_all(fd, buf, n)       every byte, across short writes and EINTR
 *   fs_copy_file(from, to, err)    in-kernel copy (reflink where it can), else read/write
 */
#ifndef KILN_FSUTIL_H
#define KILN_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "runtime/kiln_err.h"

int fs_mkdir_p(const char *path, mode_t mode, struct kiln_err *err);
int fs_rm_rf(const char *path);
int fs_write_all(int fd, const void *buf, size_t n);
int fs_copy_file(const char *from, const char *to, struct kiln_err *err);

#endif

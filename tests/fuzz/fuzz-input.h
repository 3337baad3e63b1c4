/* headrank fuzz targets: the input as a file the library can open */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

/* A broken contract: says where and what on standard error, then aborts, so that libFuzzer
 * keeps the input. Each target defines FUZZ_TARGET (its name) before including this. */
#define FUZZ_FAIL(...)                                                                             \
  G_STMT_START                                                                                     \
  {                                                                                                \
    fprintf (stderr, FUZZ_TARGET ": %s:%d: ", __FILE__, __LINE__);                                 \
    fprintf (stderr, __VA_ARGS__);                                                                 \
    fputc ('\n', stderr);                                                                          \
    abort ();                                                                                      \
  }                                                                                                \
  G_STMT_END

#define FUZZ_CHECK(cond, ...)                                                                      \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (G_UNLIKELY (!(cond)))                                                                      \
      {                                                                                            \
        fprintf (stderr, FUZZ_TARGET ": check failed: %s\n", #cond);                               \
        FUZZ_FAIL (__VA_ARGS__);                                                                   \
      }                                                                                            \
  }                                                                                                \
  G_STMT_END

/* Creates the file once per process (in /dev/shm, else the temporary folder; unlinked at
 * once where /proc/self/fd lets the library still open it, else at exit) and returns the
 * path the library should open. @suffix is the file name's ending, such as ".tif". */
const char *fuzz_input_open (const char *suffix);

/* Replaces the file's content with @size bytes of @data. */
void fuzz_input_write (const uint8_t *data, size_t size);

/* headrank fuzz targets: the input as a file the library can open */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Creates the file once per process (in /dev/shm, else the temporary folder; unlinked at
 * once where /proc/self/fd lets the library still open it, else at exit) and returns the
 * path the library should open. @suffix is the file name's ending, such as ".tif". */
const char *fuzz_input_open (const char *suffix);

/* Replaces the file's content with @size bytes of @data. */
void fuzz_input_write (const uint8_t *data, size_t size);

/* headrank: the version of the library at run time */
#include "hr-private.h"
#include "hr-version-query.h"

/**
 * hr_get_major_version:
 *
 * Gets the major version of the headrank library the program runs with, which may
 * differ from [const@MAJOR_VERSION], the version of the headers it was compiled
 * against.
 *
 * Returns: the major version of the library at run time
 *
 * Since: 0.2
 */
guint
hr_get_major_version (void)
{
  return HR_MAJOR_VERSION;
}

/**
 * hr_get_minor_version:
 *
 * Gets the minor version of the headrank library the program runs with, which may
 * differ from [const@MINOR_VERSION], the version of the headers it was compiled
 * against.
 *
 * Returns: the minor version of the library at run time
 *
 * Since: 0.2
 */
guint
hr_get_minor_version (void)
{
  return HR_MINOR_VERSION;
}

/**
 * hr_get_micro_version:
 *
 * Gets the micro version of the headrank library the program runs with, which may
 * differ from [const@MICRO_VERSION], the version of the headers it was compiled
 * against.
 *
 * Returns: the micro version of the library at run time
 *
 * Since: 0.2
 */
guint
hr_get_micro_version (void)
{
  return HR_MICRO_VERSION;
}

/**
 * hr_check_version:
 * @required_major: the required major version
 * @required_minor: the required minor version
 * @required_micro: the required micro version
 *
 * Checks that the headrank library the program runs with is compatible with the given
 * version: its major version is @required_major, and it is @required_major.@required_minor
 * .@required_micro or newer (API is added within a major version, never removed). Call
 * it with [const@MAJOR_VERSION], [const@MINOR_VERSION] and [const@MICRO_VERSION] to
 * check that the library is at least as new as the headers the program was compiled
 * against; from Python, with the version a script needs.
 *
 * Returns: (nullable): %NULL when the library is compatible, or else a message saying
 *   why not, owned by headrank: do not modify or free it
 *
 * Since: 0.2
 */
const char *
hr_check_version (guint required_major, guint required_minor, guint required_micro)
{
  /* through the functions: the library's version, and no warning about comparing an
   * unsigned value with a major version of 0 */
  guint major = hr_get_major_version (), minor = hr_get_minor_version ();
  guint micro = hr_get_micro_version ();

  if (required_major > major)
    return _ ("headrank version too old (major mismatch)");
  if (required_major < major)
    return _ ("headrank version too new (major mismatch)");
  if (required_minor > minor || (required_minor == minor && required_micro > micro))
    return _ ("headrank version too old (minor or micro mismatch)");
  return NULL;
}

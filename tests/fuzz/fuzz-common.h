/* fuzz-common.h — shared by the libFuzzer targets and the replay test.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

/* The key the frame target and the seed corpus share, so that seeds of
 * encrypted frames open. */
#define FUZZ_KEY     ((const guint8 *) "fuzz-key-0123456")
#define FUZZ_KEY_LEN 16

/* A property violation is a finding: abort so libFuzzer saves the input.
 * Not g_assert(), which G_DISABLE_ASSERT would remove. */
#define FUZZ_CHECK(cond)                                                  \
  G_STMT_START {                                                          \
    if (G_UNLIKELY (!(cond)))                                             \
      {                                                                   \
        fprintf (stderr, "%s:%d: fuzz check failed: %s\n",                \
                 __FILE__, __LINE__, #cond);                              \
        abort ();                                                         \
      }                                                                   \
  } G_STMT_END

/* Decoders must never hit a g_return_if_fail() or warn on any input:
 * make that fatal too. */
static inline void
fuzz_setup (void)
{
  static gboolean done = FALSE;

  if (!done)
    {
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
      done = TRUE;
    }
}

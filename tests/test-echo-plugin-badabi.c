/* test-echo-plugin-badabi.c — plugins the bridge must refuse.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Built twice: as is, a descriptor from a future, incompatible ABI
 * version (with a layout the bridge must not read beyond abi_version);
 * with TEST_NO_DESCRIPTOR, a shared object that exports no descriptor.
 */

#include "config.h"

#include <stdint.h>

#include "scriptling-plugin.h"

int test_badabi_marker (void);

SCRIPTLING_PLUGIN_EXPORT int
test_badabi_marker (void)
{
  return 42;
}

#ifndef TEST_NO_DESCRIPTOR
/* What an ABI 999 descriptor might look like: nothing after abi_version is
 * where an ABI 1 host expects it. */
typedef struct {
  uint32_t abi_version;
  uint32_t flags;
  uint64_t magic;
  const char *future_field;
} FutureDescriptor;

SCRIPTLING_PLUGIN_EXPORT extern const FutureDescriptor scriptling_plugin_descriptor;
SCRIPTLING_PLUGIN_EXPORT const FutureDescriptor scriptling_plugin_descriptor = {
  999u, 0u, UINT64_C (0xdeadbeefdeadbeef), "from the future",
};
#endif

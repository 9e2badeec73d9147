/* test-util.h — helpers shared by the multi-node tests on real sockets.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <gossip/gossip.h>

typedef gboolean (*Condition) (gpointer data);

/* Polls @cond (iterating the default context) until it holds or
 * @timeout_s passes; returns its last value. */
gboolean      wait_for    (Condition cond, gpointer data, double timeout_s);

/* Loopback, port 0, and timings fast enough for tests: a probe every
 * 200 ms (health_check_interval 800 ms), probe deadline 150 ms, dead
 * after 1 s (400 ms once confirmed). */
GossipConfig *fast_config (void);

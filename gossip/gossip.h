/* gossip.h — umbrella header for libgossip.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#define __GOSSIP_H_INSIDE__

#include <gossip/gossip-error.h>
#include <gossip/gossip-config.h>
#include <gossip/gossip-node.h>
#include <gossip/gossip-message.h>
#include <gossip/gossip-clock.h>
#include <gossip/gossip-system-clock.h>
#include <gossip/gossip-virtual-clock.h>
#include <gossip/gossip-transport.h>
#include <gossip/gossip-socket-transport.h>
#include <gossip/gossip-http-transport.h>
#include <gossip/gossip-memory-transport.h>
#include <gossip/gossip-cluster.h>
#include <gossip/gossip-node-group.h>
#include <gossip/gossip-leader-election.h>

#undef __GOSSIP_H_INSIDE__

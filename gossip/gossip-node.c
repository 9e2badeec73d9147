/* gossip-node.c — placeholder, being written. */
#include "config.h"

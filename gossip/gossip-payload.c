/* gossip-payload.c — placeholder, being written. */
#include "config.h"

/* gossip-compress.c — placeholder, being written. */
#include "config.h"

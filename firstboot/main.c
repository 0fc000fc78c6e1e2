/* SPDX-License-Identifier: MIT */
/* kubeseed-firstboot: see firstboot/agent.h and docs/firstboot.md. */
#include "agent.h"

int main(int argc, char **argv) {
        return agent_main(argc, argv);
}

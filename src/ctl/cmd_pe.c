/* PLACEHOLDER: replaced by the real command */
#include "cli.h"
int cmd_pe_hash(int argc, char **argv) { (void)argc; (void)argv; return cli_usage("not yet"); }

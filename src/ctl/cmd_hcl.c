/* PLACEHOLDER: replaced by the real command */
#include "cli.h"
int cmd_hcl_show(int argc, char **argv) { (void)argc; (void)argv; return cli_usage("not yet"); }

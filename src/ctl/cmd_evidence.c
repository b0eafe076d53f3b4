/* PLACEHOLDER: replaced by the real command */
#include "cli.h"
int cmd_evidence_verify(int argc, char **argv) { (void)argc; (void)argv; return cli_usage("not yet"); }

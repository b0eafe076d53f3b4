#ifndef SKR_AMD_CHAIN_H
#define SKR_AMD_CHAIN_H
#include <stddef.h>
struct skr_builtin_cert { const char *product, *role, *pem; };
extern const struct skr_builtin_cert skr_amd_builtin_certs[];
extern const size_t skr_amd_builtin_count;
#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification outcomes with stable, machine-readable reason codes.
 *
 * Every verifier in libskr reports failure through a struct skr_err: a reason
 * from the fixed set below (its name is part of the CLI's --json output and of
 * the broker's denial bodies, so names never change meaning) and a detail
 * string naming what differed.  Details never contain secrets.
 */
#ifndef SKR_ERR_H
#define SKR_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum skr_class {
	SKR_CLASS_OK = 0,
	SKR_CLASS_VERIFY = 1,	/* evidence is well formed but does not verify */
	SKR_CLASS_INPUT = 2,	/* usage error, unreadable or unparseable input */
};

/*
 * X(name, class) — append only; the names are a public interface.
 * enroll_verify_failed is reserved: enroll and status raised it (also in
 * their --json output) when a released secret differed or opened no keyslot,
 * until both switched to the broker's dry run, whose own reasons they report
 * now; the name stays so that it never comes to mean anything else.
 */
#define SKR_REASONS(X)                                       \
	X(ok, SKR_CLASS_OK)                                  \
	X(usage, SKR_CLASS_INPUT)                            \
	X(io, SKR_CLASS_INPUT)                               \
	X(nomem, SKR_CLASS_INPUT)                            \
	X(malformed, SKR_CLASS_INPUT)                        \
	X(unsupported, SKR_CLASS_INPUT)                      \
	X(snp_signature_invalid, SKR_CLASS_VERIFY)           \
	X(snp_debug_enabled, SKR_CLASS_VERIFY)               \
	X(snp_signing_key_mismatch, SKR_CLASS_VERIFY)        \
	X(cert_invalid, SKR_CLASS_VERIFY)                    \
	X(chain_untrusted, SKR_CLASS_VERIFY)                 \
	X(chain_signature_invalid, SKR_CLASS_VERIFY)         \
	X(cert_expired, SKR_CLASS_VERIFY)                    \
	X(vcek_chip_mismatch, SKR_CLASS_VERIFY)              \
	X(vcek_tcb_mismatch, SKR_CLASS_VERIFY)               \
	X(vcek_product_mismatch, SKR_CLASS_VERIFY)           \
	X(hcl_claims_hash_mismatch, SKR_CLASS_VERIFY)        \
	X(hcl_ak_missing, SKR_CLASS_VERIFY)                  \
	X(quote_magic_invalid, SKR_CLASS_VERIFY)             \
	X(quote_type_invalid, SKR_CLASS_VERIFY)              \
	X(quote_signature_invalid, SKR_CLASS_VERIFY)         \
	X(quote_nonce_mismatch, SKR_CLASS_VERIFY)            \
	X(quote_pcr_digest_mismatch, SKR_CLASS_VERIFY)       \
	X(eventlog_replay_mismatch, SKR_CLASS_VERIFY)        \
	X(nonce_invalid, SKR_CLASS_VERIFY)                   \
	X(nonce_expired, SKR_CLASS_VERIFY)                   \
	X(nonce_replayed, SKR_CLASS_VERIFY)                  \
	X(tpm_unavailable, SKR_CLASS_INPUT)                  \
	X(tpm_error, SKR_CLASS_INPUT)                        \
	X(tpm_nv_uninitialized, SKR_CLASS_INPUT)             \
	X(tpm_nv_undefined, SKR_CLASS_INPUT)                 \
	X(certify_signature_invalid, SKR_CLASS_VERIFY)       \
	X(certify_nonce_mismatch, SKR_CLASS_VERIFY)          \
	X(certify_name_mismatch, SKR_CLASS_VERIFY)           \
	X(wrap_key_attributes, SKR_CLASS_VERIFY)            \
	X(snp_tcb_too_low, SKR_CLASS_VERIFY)                 \
	X(snp_vmpl_not_allowed, SKR_CLASS_VERIFY)            \
	X(snp_measurement_not_allowed, SKR_CLASS_VERIFY)     \
	X(snp_host_data_mismatch, SKR_CLASS_VERIFY)          \
	X(snp_id_key_mismatch, SKR_CLASS_VERIFY)             \
	X(pcr_not_quoted, SKR_CLASS_VERIFY)                  \
	X(pcr_mismatch, SKR_CLASS_VERIFY)                    \
	X(policy_invalid, SKR_CLASS_INPUT)                   \
	X(key_unknown, SKR_CLASS_VERIFY)                     \
	X(key_exists, SKR_CLASS_INPUT)                       \
	X(store_error, SKR_CLASS_INPUT)                      \
	X(store_decrypt_failed, SKR_CLASS_INPUT)             \
	X(refset_unknown, SKR_CLASS_INPUT)                   \
	X(broker_unreachable, SKR_CLASS_INPUT)               \
	X(broker_protocol, SKR_CLASS_INPUT)                  \
	X(luks_error, SKR_CLASS_INPUT)                       \
	X(passphrase_invalid, SKR_CLASS_INPUT)               \
	X(admin_denied, SKR_CLASS_INPUT)                     \
	X(enroll_verify_failed, SKR_CLASS_VERIFY)            \
	X(predict_ambiguous, SKR_CLASS_VERIFY)               \
	X(predict_unsupported, SKR_CLASS_VERIFY)             \
	X(refset_queue_full, SKR_CLASS_VERIFY)               \
	X(local_policy_revoked, SKR_CLASS_VERIFY)            \
	X(local_policy_signature_invalid, SKR_CLASS_VERIFY)  \
	X(local_policy_mismatch, SKR_CLASS_VERIFY)          \
	X(boot_gate_closed, SKR_CLASS_VERIFY)                \
	X(boot_gate_unexpected, SKR_CLASS_VERIFY)            \
	X(binding_too_weak, SKR_CLASS_VERIFY)                \
	X(audit_failed, SKR_CLASS_INPUT)                     \
	X(untrusted_config, SKR_CLASS_INPUT)                 \
	X(request_too_large, SKR_CLASS_INPUT)               \
	X(approval_required, SKR_CLASS_VERIFY)               \
	X(wrap_key_hierarchy, SKR_CLASS_VERIFY)              \
	X(store_unavailable, SKR_CLASS_INPUT)                \
	X(akcert_untrusted, SKR_CLASS_VERIFY)                \
	X(akcert_intermediate_missing, SKR_CLASS_VERIFY)     \
	X(akcert_expired, SKR_CLASS_VERIFY)                  \
	X(akcert_invalid, SKR_CLASS_VERIFY)                  \
	X(akcert_key_mismatch, SKR_CLASS_VERIFY)             \
	X(ak_not_restricted, SKR_CLASS_VERIFY)               \
	X(ak_attributes, SKR_CLASS_VERIFY)                   \
	X(akcert_subject, SKR_CLASS_VERIFY)                   \
	X(tee_mismatch, SKR_CLASS_VERIFY)                    \
	X(audit_chain_broken, SKR_CLASS_VERIFY)              \
	X(audit_checkpoint_invalid, SKR_CLASS_VERIFY)        \
	X(ekcert_untrusted, SKR_CLASS_VERIFY)                \
	X(activation_failed, SKR_CLASS_VERIFY)               \
	X(ak_not_on_tpm, SKR_CLASS_VERIFY)                   \
	X(report_data_mismatch, SKR_CLASS_VERIFY)            \
	X(snp_certs_malformed, SKR_CLASS_VERIFY)             \
	X(snp_certs_no_vcek, SKR_CLASS_VERIFY)               \
	X(tsm_generation_changed, SKR_CLASS_INPUT)          \
	X(store_full, SKR_CLASS_INPUT)                       \
	X(ek_not_pinned, SKR_CLASS_VERIFY)                   \
	X(svsm_manifest_malformed, SKR_CLASS_VERIFY)         \
	X(svsm_no_vtpm, SKR_CLASS_VERIFY)                    \
	X(svsm_ek_unsupported, SKR_CLASS_VERIFY)             \
	X(svsm_binding_mismatch, SKR_CLASS_VERIFY)

enum skr_reason {
#define SKR_REASON_ENUM(name, cls) SKR_R_##name,
	SKR_REASONS(SKR_REASON_ENUM)
#undef SKR_REASON_ENUM
	SKR_R__COUNT
};

struct skr_err {
	enum skr_reason reason;
	char detail[512];
};

/* Records the first failure only: later calls keep the original cause. */
int skr_fail(struct skr_err *err, enum skr_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *skr_reason_name(enum skr_reason reason);
/* The reason with that name (as received from a broker); SKR_R__COUNT if none. */
enum skr_reason skr_reason_from_name(const char *name);
enum skr_class skr_reason_class(enum skr_reason reason);
void skr_err_clear(struct skr_err *err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release policy (src/verify/policy.h) on its own: parsing the format of
 * skr-policy(5) (every member, every refusal with its reason and a detail
 * naming the field) and the checks the broker runs with it — SNP
 * requirements, quote selection, PCR reference sets — against reports, quotes
 * and PCR values built here, at their boundaries.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/gate.h"
#include "common/pcr_bank.h"
#include "verify/policy.h"
#include "verify/snp_report.h"

/* n bytes of b as hex (lower case); the result lives until the next call with the same slot. */
static const char *hexrep(int slot, uint8_t b, size_t n)
{
	static char bufs[4][2 * 64 + 1];
	char *s = bufs[slot];
	size_t i;

	assert_true(n <= 64);
	for (i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", b);
	s[2 * n] = 0;
	return s;
}

static void parse_ok(const char *json, struct skr_policy *p)
{
	struct skr_err err = { 0 };

	assert_ok(skr_policy_parse(json, p, &err), err);
}

/* The policy is refused with policy_invalid and a detail naming what is wrong. */
static void refused(const char *json, enum skr_reason reason, const char *detail)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	int rc = skr_policy_parse(json, &p, &err);

	if (rc >= 0)
		fail_msg("policy accepted: %s", json);
	if (err.reason != reason || !strstr(err.detail, detail))
		fail_msg("policy %s: refused with %s \"%s\", expected %s \"%s\"", json,
			 skr_reason_name(err.reason), err.detail, skr_reason_name(reason), detail);
}

static void invalid(const char *json, const char *detail)
{
	refused(json, SKR_R_policy_invalid, detail);
}

/* ---- Parsing ----------------------------------------------------------------------- */

/* The example of skr-policy(5), every member present. */
static void parse_documented_policy(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	char json[1024];
	uint8_t m[48], hd[32], idk[48];

	snprintf(json, sizeof(json),
		 "{\"tee\": \"az-snp-vtpm\",\n"
		 " \"snp\": {\"allow_debug\": false, \"max_vmpl\": 0,\n"
		 "         \"min_tcb\": {\"bootloader\": 3, \"tee\": 0, \"snp\": 8,\n"
		 "                     \"microcode\": 115},\n"
		 "         \"measurements\": [\"%s\"],\n"
		 "         \"host_data\": \"%s\",\n"
		 "         \"id_key_digest\": \"%s\"},\n"
		 " \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [4, 7, 9, 12]},\n"
		 " \"allow_attested_reseal\": false}",
		 hexrep(0, 0xa1, 48), hexrep(1, 0xb2, 32), hexrep(2, 0xc3, 48));
	memset(m, 0xa1, sizeof(m));
	memset(hd, 0xb2, sizeof(hd));
	memset(idk, 0xc3, sizeof(idk));
	parse_ok(json, &p);
	assert_false(p.allow_debug);
	assert_int_equal(p.max_vmpl, 0);
	assert_true(p.has_min_tcb);
	assert_int_equal(p.min_tcb.bootloader, 3);
	assert_int_equal(p.min_tcb.tee, 0);
	assert_int_equal(p.min_tcb.snp, 8);
	assert_int_equal(p.min_tcb.microcode, 115);
	assert_int_equal(p.min_tcb.fmc, 0);	/* absent: 0 */
	assert_int_equal(p.n_measurements, 1);
	assert_memory_equal(p.measurements[0], m, 48);
	assert_true(p.has_host_data);
	assert_memory_equal(p.host_data, hd, 32);
	assert_true(p.has_id_key_digest);
	assert_memory_equal(p.id_key_digest, idk, 48);
	assert_int_equal(p.pcr_bank, SKR_TPM_ALG_SHA256);
	assert_int_equal(p.pcr_mask, (1u << 4) | (1u << 7) | (1u << 9) | (1u << 12));
	assert_false(p.allow_attested_reseal);
	assert_ok(skr_policy_check_binding(&p, &err), err);

	/* The other values of the booleans and the largest VMPL, fmc, upper-case hex. */
	snprintf(json, sizeof(json),
		 "{\"snp\": {\"allow_debug\": true, \"max_vmpl\": 3, \"min_tcb\": {\"fmc\": 255},"
		 " \"host_data\": \"%s\"}, \"pcrs\": {\"indexes\": [0, 23]},"
		 " \"allow_attested_reseal\": true}",
		 "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB");
	parse_ok(json, &p);
	assert_true(p.allow_debug);
	assert_int_equal(p.max_vmpl, 3);
	assert_int_equal(p.min_tcb.fmc, 255);
	assert_int_equal(p.min_tcb.bootloader, 0);
	assert_int_equal(p.host_data[31], 0xab);
	assert_false(p.has_id_key_digest);
	assert_int_equal(p.n_measurements, 0);
	assert_int_equal(p.pcr_mask, 1u | (1u << 23));
	assert_true(p.allow_attested_reseal);
}

/* Every member is optional: what is absent is not checked, and the defaults are strict. */
static void parse_defaults(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };

	memset(&p, 0x5a, sizeof(p));	/* parse starts from zero whatever *out held */
	parse_ok("{}", &p);
	assert_false(p.allow_debug);
	assert_int_equal(p.max_vmpl, 0);
	assert_false(p.has_min_tcb);
	assert_int_equal(p.n_measurements, 0);
	assert_false(p.has_host_data);
	assert_false(p.has_id_key_digest);
	assert_int_equal(p.pcr_bank, SKR_TPM_ALG_SHA256);
	assert_int_equal(p.pcr_mask, 0);
	assert_false(p.allow_attested_reseal);
	/* ... but a policy without PCRs is never a binding. */
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_binding_too_weak,
			   "binds no PCR");

	parse_ok("{\"tee\": \"az-snp-vtpm\", \"snp\": {}, \"pcrs\": {\"indexes\": []}}", &p);
	assert_int_equal(p.pcr_mask, 0);
	parse_ok("{\"snp\": {\"min_tcb\": {}}, \"pcrs\": {\"indexes\": [7]}}", &p);
	assert_true(p.has_min_tcb);	/* present and empty: every minimum 0 */
	assert_int_equal(p.min_tcb.bootloader + p.min_tcb.tee + p.min_tcb.snp +
				 p.min_tcb.microcode + p.min_tcb.fmc, 0);
	/* skr_policy_from_json (a parsed object, as the store hands it): the same rules. */
	json_object *o = json_tokener_parse("{\"pcrs\": {\"indexes\": [4, 4, 7]}}");

	assert_non_null(o);
	skr_err_clear(&err);
	assert_ok(skr_policy_from_json(o, &p, &err), err);
	assert_int_equal(p.pcr_mask, (1u << 4) | (1u << 7));	/* a repeat binds once */
	json_object_put(o);
}

/* Trusted Launch: tee azure-tl, ak_subjects; the fields of one mode refused in the other. */
static void parse_azure_tl(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	char big[600];

	parse_ok("{\"tee\": \"azure-tl\", \"ak_subjects\": [\"a.TrustedVM.Azure.windows.net\", "
		 "\"b.TrustedVM.Azure.windows.net\"], \"pcrs\": {\"indexes\": [4, 7]}}", &p);
	assert_int_equal(p.tee, SKR_TEE_AZURE_TL);
	assert_int_equal(p.n_ak_subjects, 2);
	assert_string_equal(p.ak_subjects[1], "b.TrustedVM.Azure.windows.net");
	assert_ok(skr_policy_check_ak_subject(&p, "a.TrustedVM.Azure.windows.net", &err), err);
	assert_failed_with(skr_policy_check_ak_subject(&p, "a.TrustedVM.Azure.windows.ne", &err),
			   err, SKR_R_akcert_subject, "a.TrustedVM.Azure.windows.ne");
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_ak_subject(&p, "A.TRUSTEDVM.AZURE.WINDOWS.NET", &err),
			   err, SKR_R_akcert_subject, NULL);	/* exact match */
	skr_err_clear(&err);
	assert_ok(skr_policy_check_tee(&p, SKR_TEE_AZURE_TL, &err), err);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_AZ_SNP_VTPM, &err), err,
			   SKR_R_tee_mismatch, "\"azure-tl\", the evidence is \"az-snp-vtpm\"");
	skr_err_clear(&err);
	/* Without ak_subjects any subject qualifies; without tee the mode is az-snp-vtpm. */
	parse_ok("{\"tee\": \"azure-tl\", \"pcrs\": {\"indexes\": [7]}}", &p);
	assert_ok(skr_policy_check_ak_subject(&p, "any.TrustedVM.Azure.windows.net", &err), err);
	parse_ok("{\"pcrs\": {\"indexes\": [7]}}", &p);
	assert_int_equal(p.tee, SKR_TEE_AZ_SNP_VTPM);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_AZURE_TL, &err), err,
			   SKR_R_tee_mismatch, NULL);

	invalid("{\"tee\": \"azure-tl\", \"snp\": {}}", "\"snp\" does not apply to tee \"azure-tl\"");
	invalid("{\"ak_subjects\": [\"x\"]}", "\"ak_subjects\" does not apply to tee \"az-snp-vtpm\"");
	invalid("{\"tee\": \"azure-tl\", \"ak_subjects\": []}", "ak_subjects is not a list");
	invalid("{\"tee\": \"azure-tl\", \"ak_subjects\": \"x\"}", "ak_subjects is not a list");
	invalid("{\"tee\": \"azure-tl\", \"ak_subjects\": [7]}", "ak_subjects[0]");
	invalid("{\"tee\": \"azure-tl\", \"ak_subjects\": [\"x\", \"\"]}", "ak_subjects[1]");
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"tee\": \"azure-tl\", \"ak_subjects\": [\"", 37);
	memcpy(big + sizeof(big) - 4, "\"]}", 4);
	invalid(big, "ak_subjects[0]");	/* 560 characters: more than a CN holds */
	invalid("{\"tee\": \"azure-tl\", \"ak_subjects\": [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", "
		"\"7\", \"8\", \"9\", \"10\", \"11\", \"12\", \"13\", \"14\", \"15\", \"16\", \"17\"]}",
		"1 to 16");
	invalid("{\"tee\": \"azure\"}", "policy tee must be");
	invalid("{\"tee\": \"azure-tl\", \"ak_subject\": [\"x\"]}", "unknown key \"ak_subject\"");
}

/* Generic TPM: tee tpm; neither snp nor ak_subjects applies; other modes' evidence refused. */
static void parse_tpm(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };

	parse_ok("{\"tee\": \"tpm\", \"pcrs\": {\"indexes\": [0, 7]}}", &p);
	assert_int_equal(p.tee, SKR_TEE_TPM);
	assert_ok(skr_policy_check_tee(&p, SKR_TEE_TPM, &err), err);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_AZURE_TL, &err), err,
			   SKR_R_tee_mismatch, "\"tpm\", the evidence is \"azure-tl\"");
	skr_err_clear(&err);
	parse_ok("{\"tee\": \"azure-tl\"}", &p);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_TPM, &err), err, SKR_R_tee_mismatch,
			   "the evidence is \"tpm\"");
	invalid("{\"tee\": \"tpm\", \"snp\": {}}", "\"snp\" does not apply to tee \"tpm\"");
	invalid("{\"tee\": \"tpm\", \"ak_subjects\": [\"x\"]}",
		"\"ak_subjects\" does not apply to tee \"tpm\"");
	invalid("{\"tee\": \"TPM\"}", "\"az-snp-vtpm\", \"azure-tl\", \"tpm\" or \"snp\"");
}

#define PIN_A "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0"
#define PIN_B "00000000000000000000000000000000000000000000000000000000000000b0"

/* tee tpm pins its EK by SPKI digest; any other EK, even one bit off, is refused. */
static void parse_tpm_ek_pins(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	uint8_t ek[32];
	size_t i;

	for (i = 0; i < sizeof(ek); i++)
		ek[i] = (uint8_t)(0xa1 + i);
	parse_ok("{\"tee\": \"tpm\", \"ek_spki_sha256\": [\"" PIN_B "\", \"" PIN_A "\"], "
		 "\"pcrs\": {\"indexes\": [7]}}", &p);
	assert_int_equal(p.n_ek_pins, 2);
	assert_ok(skr_policy_check_ek_pin(&p, ek, &err), err);
	ek[31] ^= 1;
	assert_failed_with(skr_policy_check_ek_pin(&p, ek, &err), err, SKR_R_ek_not_pinned,
			   "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc1) is not "
			   "among the policy's 2 ek_spki_sha256 pins");
	skr_err_clear(&err);
	/* Without pins any EK the broker's ek_roots certified qualifies. */
	parse_ok("{\"tee\": \"tpm\", \"pcrs\": {\"indexes\": [7]}}", &p);
	assert_ok(skr_policy_check_ek_pin(&p, ek, &err), err);

	invalid("{\"tee\": \"azure-tl\", \"ek_spki_sha256\": [\"" PIN_A "\"]}",
		"\"ek_spki_sha256\" does not apply to tee \"azure-tl\"");
	invalid("{\"ek_spki_sha256\": [\"" PIN_A "\"]}",
		"\"ek_spki_sha256\" does not apply to tee \"az-snp-vtpm\"");
	invalid("{\"tee\": \"tpm\", \"ek_spki_sha256\": []}", "not a list of 1 to 16");
	invalid("{\"tee\": \"tpm\", \"ek_spki_sha256\": \"" PIN_A "\"}", "not a list of 1 to 16");
	invalid("{\"tee\": \"tpm\", \"ek_spki_sha256\": [\"a1a2\"]}", "is not 32 bytes of hex");
	invalid("{\"tee\": \"tpm\", \"ek_spki_sha256\": [7]}", "is not 32 bytes of hex");
	invalid("{\"tee\": \"tpm\", \"ek_spki_sha256\": [\"" PIN_A "\", \"zz\"]}",
		"is not 32 bytes of hex");
}

/* A typo never weakens a policy: unknown keys are refused at every level, by name. */
static void parse_refuses_unknown_keys(void **state)
{
	invalid("{\"tee\": \"az-snp-vtpm\", \"allow_debug\": true}",
		"has unknown key \"allow_debug\"");
	invalid("{\"snp\": {\"max_vpml\": 3}}", "policy snp has unknown key \"max_vpml\"");
	invalid("{\"snp\": {\"allowdebug\": false}}", "unknown key \"allowdebug\"");
	invalid("{\"snp\": {\"min_tcb\": {\"microcod\": 1}}}",
		"policy snp.min_tcb has unknown key \"microcod\"");
	invalid("{\"pcrs\": {\"indexes\": [7], \"bnak\": \"sha1\"}}",
		"policy pcrs has unknown key \"bnak\"");
	invalid("{\"pcrs\": {\"indexes\": [7]}, \"PCRS\": {}}", "unknown key \"PCRS\"");
	/* A key of a nested object one level up is unknown there. */
	invalid("{\"measurements\": []}", "unknown key \"measurements\"");
	invalid("{\"snp\": {\"indexes\": [7]}}", "policy snp has unknown key \"indexes\"");
}

/* Each malformed member: policy_invalid and a detail naming the member. */
static void parse_refuses_malformed_members(void **state)
{
	char json[4096];
	size_t i, off;

	/* Not a policy at all. */
	invalid("", "not JSON");
	invalid("{\"tee\": ", "not JSON");
	invalid("[]", "is not an object");
	invalid("\"az-snp-vtpm\"", "is not an object");
	invalid("null", "not JSON");

	/* tee */
	invalid("{\"tee\": \"sgx\"}", "tee must be \"az-snp-vtpm\"");
	invalid("{\"tee\": \"AZ-SNP-VTPM\"}", "tee must be");
	invalid("{\"tee\": 1}", "tee must be");
	invalid("{\"tee\": null}", "tee must be");

	/* snp and its members */
	invalid("{\"snp\": []}", "policy snp is not an object");
	invalid("{\"snp\": {\"allow_debug\": 0}}", "\"allow_debug\" is not a boolean");
	invalid("{\"snp\": {\"allow_debug\": \"false\"}}", "\"allow_debug\" is not a boolean");
	invalid("{\"snp\": {\"max_vmpl\": 4}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"max_vmpl\": -1}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"max_vmpl\": \"0\"}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"max_vmpl\": 1.0}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"max_vmpl\": true}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"max_vmpl\": 4294967296}}", "\"max_vmpl\" is not an integer 0..3");
	invalid("{\"snp\": {\"min_tcb\": 8}}", "policy snp.min_tcb is not an object");
	invalid("{\"snp\": {\"min_tcb\": {\"bootloader\": 256}}}",
		"\"bootloader\" is not an integer 0..255");
	invalid("{\"snp\": {\"min_tcb\": {\"tee\": -1}}}", "\"tee\" is not an integer 0..255");
	invalid("{\"snp\": {\"min_tcb\": {\"snp\": \"8\"}}}", "\"snp\" is not an integer 0..255");
	invalid("{\"snp\": {\"min_tcb\": {\"microcode\": 115.5}}}",
		"\"microcode\" is not an integer 0..255");
	invalid("{\"snp\": {\"min_tcb\": {\"fmc\": 1000}}}", "\"fmc\" is not an integer 0..255");

	/* measurements: an array of up to 32 48-byte hex strings */
	invalid("{\"snp\": {\"measurements\": \"aa\"}}", "snp.measurements is not an array");
	snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [\"%s\"]}}", hexrep(0, 0xaa, 47));
	invalid(json, "\"measurements\" is not 48 bytes of hex");
	snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [\"%s\"]}}", hexrep(0, 0xaa, 49));
	invalid(json, "\"measurements\" is not 48 bytes of hex");
	snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [\"%s\", 7]}}", hexrep(0, 0xaa, 48));
	invalid(json, "\"measurements\" is not 48 bytes of hex");
	invalid("{\"snp\": {\"measurements\": [null]}}", "\"measurements\" is not 48 bytes of hex");
	/* 33 measurements: one more than the limit. */
	off = (size_t)snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [");
	for (i = 0; i < SKR_POLICY_MAX_MEASUREMENTS + 1; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off, "%s\"%s\"", i ? "," : "",
					hexrep(0, (uint8_t)i, 48));
	snprintf(json + off, sizeof(json) - off, "]}}");
	invalid(json, "more than 32 measurements");
	/* 32 is fine, each kept in order. */
	off = (size_t)snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [");
	for (i = 0; i < SKR_POLICY_MAX_MEASUREMENTS; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off, "%s\"%s\"", i ? "," : "",
					hexrep(0, (uint8_t)i, 48));
	snprintf(json + off, sizeof(json) - off, "]}}");
	{
		struct skr_policy p;

		parse_ok(json, &p);
		assert_int_equal(p.n_measurements, 32);
		assert_int_equal(p.measurements[31][47], 31);
	}

	/* host_data and id_key_digest: exactly 32 and 48 bytes */
	snprintf(json, sizeof(json), "{\"snp\": {\"host_data\": \"%s\"}}", hexrep(0, 1, 31));
	invalid(json, "\"host_data\" is not 32 bytes of hex");
	snprintf(json, sizeof(json), "{\"snp\": {\"host_data\": \"%s\"}}", hexrep(0, 1, 48));
	invalid(json, "\"host_data\" is not 32 bytes of hex");
	invalid("{\"snp\": {\"host_data\": 12}}", "\"host_data\" is not 32 bytes of hex");
	invalid("{\"snp\": {\"host_data\": \"\"}}", "\"host_data\" is not 32 bytes of hex");
	snprintf(json, sizeof(json), "{\"snp\": {\"id_key_digest\": \"%s\"}}", hexrep(0, 1, 32));
	invalid(json, "\"id_key_digest\" is not 48 bytes of hex");
	invalid("{\"snp\": {\"id_key_digest\": []}}", "\"id_key_digest\" is not 48 bytes of hex");

	/* pcrs */
	invalid("{\"pcrs\": [4, 7]}", "policy pcrs is not an object");
	invalid("{\"pcrs\": {}}", "pcrs.indexes is not an array");	/* indexes is required */
	invalid("{\"pcrs\": {\"bank\": \"sha256\"}}", "pcrs.indexes is not an array");
	invalid("{\"pcrs\": {\"indexes\": 7}}", "pcrs.indexes is not an array");
	invalid("{\"pcrs\": {\"indexes\": [24]}}", "PCR index is not 0..23");
	invalid("{\"pcrs\": {\"indexes\": [-1]}}", "PCR index is not 0..23");
	invalid("{\"pcrs\": {\"indexes\": [\"7\"]}}", "PCR index is not 0..23");
	invalid("{\"pcrs\": {\"indexes\": [7.0]}}", "PCR index is not 0..23");
	invalid("{\"pcrs\": {\"indexes\": [4294967303]}}", "PCR index is not 0..23");	/* 2^32 + 7 */
	invalid("{\"pcrs\": {\"bank\": \"md5\", \"indexes\": [7]}}", "pcrs.bank is not a known bank");
	invalid("{\"pcrs\": {\"bank\": \"SHA256\", \"indexes\": [7]}}", "pcrs.bank is not a known bank");
	invalid("{\"pcrs\": {\"bank\": 11, \"indexes\": [7]}}", "pcrs.bank is not a known bank");
	invalid("{\"pcrs\": {\"bank\": \"\", \"indexes\": [7]}}", "pcrs.bank is not a known bank");

	/* allow_attested_reseal */
	invalid("{\"allow_attested_reseal\": 1}", "\"allow_attested_reseal\" is not a boolean");
	invalid("{\"allow_attested_reseal\": null}", "\"allow_attested_reseal\" is not a boolean");
}

/*
 * Bytes that are not hex in a hex member: refused as every other invalid
 * policy is, policy_invalid (DESIGN.md: the admin API's answer for a bad
 * policy), naming the member.
 */
static void parse_refuses_non_hex_with_policy_invalid(void **state)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"snp\": {\"host_data\": \"%.62szz\"}}", hexrep(0, 1, 31));
	invalid(json, "host_data");
	invalid("{\"snp\": {\"host_data\": \"abc\"}}", "host_data");	/* odd digit count */
	snprintf(json, sizeof(json), "{\"snp\": {\"measurements\": [\"%.94sg0\"]}}", hexrep(0, 1, 48));
	invalid(json, "measurements");
	snprintf(json, sizeof(json), "{\"snp\": {\"id_key_digest\": \"-%.95s\"}}", hexrep(0, 1, 48));
	invalid(json, "id_key_digest");
}

/* sha256 is the one bank: the client quotes and predicts no other, so a
 * policy on another could never be met.  Every other name is refused. */
static void parse_pcr_banks(void **state)
{
	static const char *const others[] = { "sha1", "sha384", "sha512", "sm3_256",
					      "sha3_256", "sha3_384", "sha3_512" };
	struct skr_policy p;
	struct skr_err err = { 0 };
	char json[128];
	size_t i;

	parse_ok("{\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 23]}}", &p);
	assert_int_equal(p.pcr_bank, SKR_TPM_ALG_SHA256);
	assert_int_equal(p.pcr_mask, 1u | (1u << 7) | (1u << 23));
	for (i = 0; i < ARRAY_SIZE(others); i++) {
		snprintf(json, sizeof(json), "{\"pcrs\": {\"bank\": \"%s\", \"indexes\": [7]}}",
			 others[i]);
		skr_err_clear(&err);
		assert_failed_with(skr_policy_parse(json, &p, &err), err, SKR_R_policy_invalid,
				   "pcrs.bank must be \"sha256\"");
	}
	skr_err_clear(&err);
	assert_failed_with(skr_policy_parse("{\"pcrs\": {\"bank\": \"md5\", \"indexes\": [7]}}", &p,
					    &err),
			   err, SKR_R_policy_invalid, "pcrs.bank");
}

/* At creation, change and use: at least one PCR, never the boot gate. */
static void binding_rules(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	char json[128];
	unsigned i;

	for (i = 0; i < SKR_PCR_COUNT; i++) {
		snprintf(json, sizeof(json), "{\"pcrs\": {\"indexes\": [%u]}}", i);
		parse_ok(json, &p);	/* the parser takes every index 0..23 ... */
		skr_err_clear(&err);
		if (i == SKR_GATE_PCR)	/* ... the binding rule refuses the gate */
			assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_policy_invalid,
					   "binds PCR 15, the boot gate");
		else
			assert_ok(skr_policy_check_binding(&p, &err), err);
	}
	/* The gate among others: still refused. */
	parse_ok("{\"pcrs\": {\"indexes\": [4, 7, 15]}}", &p);
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_policy_invalid, "PCR 15");
	parse_ok("{\"pcrs\": {\"indexes\": []}}", &p);
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_binding_too_weak,
			   "\"indexes\" empty");
}

/* ---- The SNP checks ----------------------------------------------------------------------- */

/* A Milan/Genoa TCB_VERSION: bootloader, tee at bytes 0, 1; snp at 6; microcode at 7. */
static uint64_t milan_tcb(uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode)
{
	return (uint64_t)bl | (uint64_t)tee << 8 | (uint64_t)snp << 48 | (uint64_t)ucode << 56;
}

/* Turin: fmc, bootloader, tee, snp at bytes 0..3, microcode at 7. */
static uint64_t turin_tcb(uint8_t fmc, uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode)
{
	return (uint64_t)fmc | (uint64_t)bl << 8 | (uint64_t)tee << 16 | (uint64_t)snp << 24 |
	       (uint64_t)ucode << 56;
}

static struct skr_snp_report *new_report(void)
{
	struct skr_snp_report *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->version = 3;
	r->policy = 0x30000;	/* SMT allowed, reserved bit 17 set, debug off */
	r->vmpl = 0;
	memset(r->measurement, 0x4d, sizeof(r->measurement));
	memset(r->host_data, 0x48, sizeof(r->host_data));
	memset(r->id_key_digest, 0x49, sizeof(r->id_key_digest));
	return r;
}

static void snp_ok(const struct skr_policy *p, const struct skr_snp_report *r,
		   enum skr_snp_product product)
{
	struct skr_err err = { 0 };

	assert_ok(skr_policy_check_snp(p, r, product, &err), err);
}

static void snp_refused(const struct skr_policy *p, const struct skr_snp_report *r,
			enum skr_snp_product product, enum skr_reason reason, const char *detail)
{
	struct skr_err err = { 0 };

	assert_failed_with(skr_policy_check_snp(p, r, product, &err), err, reason, detail);
}

/* Each minimum: equal passes, one below fails naming the component, above passes. */
static void tcb_minimums_milan(void **state)
{
	static const char *const names[] = { "bootloader", "tee", "snp", "microcode" };
	const uint8_t min[4] = { 3, 1, 8, 115 };
	struct skr_snp_report *r = new_report();
	struct skr_policy p;
	char detail[96];
	unsigned i;

	parse_ok("{\"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 1, \"snp\": 8, "
		 "\"microcode\": 115, \"fmc\": 9}}, \"pcrs\": {\"indexes\": [7]}}",
		 &p);
	/* Exactly the minimum (fmc does not exist on Milan: 9 is not checked there). */
	r->reported_tcb = milan_tcb(3, 1, 8, 115);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	snp_ok(&p, r, SKR_SNP_PRODUCT_GENOA);
	for (i = 0; i < 4; i++) {
		uint8_t v[4] = { min[0], min[1], min[2], min[3] };

		v[i]--;
		r->reported_tcb = milan_tcb(v[0], v[1], v[2], v[3]);
		snprintf(detail, sizeof(detail), "REPORTED_TCB %s %u is below the policy's minimum %u",
			 names[i], min[i] - 1u, min[i]);
		snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_tcb_too_low, detail);
		/* The others far above do not make up for it. */
		for (unsigned j = 0; j < 4; j++)
			if (j != i)
				v[j] = 255;
		r->reported_tcb = milan_tcb(v[0], v[1], v[2], v[3]);
		snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_tcb_too_low, names[i]);
		/* One above the minimum passes. */
		v[i] = (uint8_t)(min[i] + 1);
		r->reported_tcb = milan_tcb(v[0], v[1], v[2], v[3]);
		snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	}
	/* The minimum is on REPORTED_TCB, not on CURRENT_TCB, COMMITTED_TCB or LAUNCH_TCB. */
	r->reported_tcb = milan_tcb(3, 1, 7, 115);
	r->current_tcb = r->committed_tcb = r->launch_tcb = milan_tcb(255, 255, 255, 255);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_tcb_too_low, "snp 7");
	/* Minimums of 0 (absent) pass a zero TCB; no min_tcb at all passes anything. */
	parse_ok("{\"snp\": {\"min_tcb\": {\"snp\": 0}}, \"pcrs\": {\"indexes\": [7]}}", &p);
	r->reported_tcb = 0;
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	parse_ok("{\"pcrs\": {\"indexes\": [7]}}", &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_TURIN);
	free(r);
}

/* Turin's layout differs, and its fmc component counts. */
static void tcb_minimums_turin(void **state)
{
	struct skr_snp_report *r = new_report();
	struct skr_policy p;

	parse_ok("{\"snp\": {\"min_tcb\": {\"bootloader\": 3, \"tee\": 1, \"snp\": 8, "
		 "\"microcode\": 115, \"fmc\": 9}}, \"pcrs\": {\"indexes\": [7]}}",
		 &p);
	r->reported_tcb = turin_tcb(9, 3, 1, 8, 115);
	snp_ok(&p, r, SKR_SNP_PRODUCT_TURIN);
	r->reported_tcb = turin_tcb(8, 3, 1, 8, 115);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low,
		    "REPORTED_TCB fmc 8 is below the policy's minimum 9");
	r->reported_tcb = turin_tcb(9, 3, 1, 7, 115);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low, "snp 7 is below");
	r->reported_tcb = turin_tcb(9, 2, 1, 8, 115);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low, "bootloader 2 is below");
	r->reported_tcb = turin_tcb(9, 3, 0, 8, 115);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low, "tee 0 is below");
	r->reported_tcb = turin_tcb(9, 3, 1, 8, 114);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low, "microcode 114 is below");
	/* The same raw value read in Milan's layout is another TCB: the product decides. */
	r->reported_tcb = turin_tcb(9, 3, 1, 8, 115);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_tcb_too_low, NULL);
	/* A Milan-layout TCB that passes on Milan fails as Turin. */
	r->reported_tcb = milan_tcb(3, 1, 8, 115);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	snp_refused(&p, r, SKR_SNP_PRODUCT_TURIN, SKR_R_snp_tcb_too_low, NULL);
	free(r);
}

static void vmpl_limit(void **state)
{
	struct skr_snp_report *r = new_report();
	struct skr_policy p;
	char json[96];
	unsigned max, vmpl;

	/* Default 0: VMPL 0 only. */
	parse_ok("{\"pcrs\": {\"indexes\": [7]}}", &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	r->vmpl = 1;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_vmpl_not_allowed,
		    "report VMPL 1 is above 0");
	for (max = 0; max <= 3; max++) {
		snprintf(json, sizeof(json), "{\"snp\": {\"max_vmpl\": %u}, \"pcrs\": {\"indexes\": [7]}}",
			 max);
		parse_ok(json, &p);
		for (vmpl = 0; vmpl <= 4; vmpl++) {
			r->vmpl = vmpl;
			if (vmpl <= max)
				snp_ok(&p, r, SKR_SNP_PRODUCT_GENOA);
			else
				snp_refused(&p, r, SKR_SNP_PRODUCT_GENOA, SKR_R_snp_vmpl_not_allowed,
					    "is above");
		}
	}
	/* A VMPL no SNP report can have (the field is 32 bits wide): refused. */
	r->vmpl = UINT32_MAX;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_vmpl_not_allowed, "4294967295");
	free(r);
}

static void debug_policy_bit(void **state)
{
	struct skr_snp_report *r = new_report();
	struct skr_policy p;

	parse_ok("{\"pcrs\": {\"indexes\": [7]}}", &p);
	r->policy |= SKR_SNP_POLICY_DEBUG;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_debug_enabled, "POLICY bit 19");
	parse_ok("{\"snp\": {\"allow_debug\": false}, \"pcrs\": {\"indexes\": [7]}}", &p);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_debug_enabled, NULL);
	/* Only bit 19 is the debug bit: every other policy bit set passes. */
	r->policy = ~SKR_SNP_POLICY_DEBUG;
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	/* allow_debug admits a debuggable guest, and a non-debuggable one still. */
	parse_ok("{\"snp\": {\"allow_debug\": true}, \"pcrs\": {\"indexes\": [7]}}", &p);
	r->policy = 0x30000 | SKR_SNP_POLICY_DEBUG;
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	r->policy = 0x30000;
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	free(r);
}

/* The order of the checks: the first failing requirement is the reason. */
static void snp_check_order(void **state)
{
	struct skr_snp_report *r = new_report();
	struct skr_policy p;
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"snp\": {\"min_tcb\": {\"snp\": 8}, \"measurements\": [\"%s\"], "
		 "\"host_data\": \"%s\", \"id_key_digest\": \"%s\"}, \"pcrs\": {\"indexes\": [7]}}",
		 hexrep(0, 0x01, 48), hexrep(1, 0x02, 32), hexrep(2, 0x03, 48));
	parse_ok(json, &p);
	r->policy |= SKR_SNP_POLICY_DEBUG;
	r->vmpl = 1;
	r->reported_tcb = milan_tcb(0, 0, 7, 0);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_debug_enabled, NULL);
	r->policy &= ~SKR_SNP_POLICY_DEBUG;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_vmpl_not_allowed, NULL);
	r->vmpl = 0;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_tcb_too_low, NULL);
	r->reported_tcb = milan_tcb(0, 0, 8, 0);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_measurement_not_allowed, NULL);
	memset(r->measurement, 0x01, 48);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_host_data_mismatch, NULL);
	memset(r->host_data, 0x02, 32);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_id_key_mismatch, NULL);
	memset(r->id_key_digest, 0x03, 48);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	free(r);
}

static void measurements_and_pins(void **state)
{
	struct skr_snp_report *r = new_report();
	struct skr_policy p;
	char json[1024];

	/* Absent or empty list: any measurement passes. */
	parse_ok("{\"snp\": {\"measurements\": []}, \"pcrs\": {\"indexes\": [7]}}", &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	/* One of several: any position matches. */
	snprintf(json, sizeof(json),
		 "{\"snp\": {\"measurements\": [\"%s\", \"%s\", \"%s\"]}, \"pcrs\": {\"indexes\": [7]}}",
		 hexrep(0, 0x01, 48), hexrep(1, 0x4d, 48), hexrep(2, 0x02, 48));
	parse_ok(json, &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	/* The last byte differs: refused, the detail gives the measurement seen. */
	r->measurement[47] = 0x4e;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_measurement_not_allowed,
		    "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d"
		    "4d4d4d4d4d4d4d4e is not among the 3 allowed");
	r->measurement[47] = 0x4d;
	r->measurement[0] = 0x00;
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_measurement_not_allowed, NULL);
	r->measurement[0] = 0x4d;

	/* host_data: equal passes, any one byte off fails. */
	snprintf(json, sizeof(json), "{\"snp\": {\"host_data\": \"%s\"}, \"pcrs\": {\"indexes\": [7]}}",
		 hexrep(0, 0x48, 32));
	parse_ok(json, &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	for (size_t i = 0; i < 32; i += 31) {
		r->host_data[i] ^= 0x80;
		snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_host_data_mismatch,
			    "HOST_DATA is not the pinned value");
		r->host_data[i] ^= 0x80;
	}
	/* id_key_digest likewise. */
	snprintf(json, sizeof(json),
		 "{\"snp\": {\"id_key_digest\": \"%s\"}, \"pcrs\": {\"indexes\": [7]}}",
		 hexrep(0, 0x49, 48));
	parse_ok(json, &p);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	for (size_t i = 0; i < 48; i += 47) {
		r->id_key_digest[i] ^= 1;
		snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_id_key_mismatch,
			    "ID_KEY_DIGEST is not the pinned value");
		r->id_key_digest[i] ^= 1;
	}
	/* An all-zero pin is a pin, not "unset". */
	snprintf(json, sizeof(json), "{\"snp\": {\"host_data\": \"%s\"}, \"pcrs\": {\"indexes\": [7]}}",
		 hexrep(0, 0, 32));
	parse_ok(json, &p);
	snp_refused(&p, r, SKR_SNP_PRODUCT_MILAN, SKR_R_snp_host_data_mismatch, NULL);
	memset(r->host_data, 0, 32);
	snp_ok(&p, r, SKR_SNP_PRODUCT_MILAN);
	free(r);
}

/* ---- Quote selection ---------------------------------------------------------------------- */

static void select_pcrs(TPMS_ATTEST *q, size_t slot, uint16_t alg, uint32_t mask, uint8_t size)
{
	TPMS_PCR_SELECTION *s = &q->attested.quote.pcrSelect.pcrSelections[slot];

	s->hash = alg;
	s->sizeofSelect = size;
	s->pcrSelect[0] = (uint8_t)mask;
	s->pcrSelect[1] = (uint8_t)(mask >> 8);
	s->pcrSelect[2] = (uint8_t)(mask >> 16);
	if (q->attested.quote.pcrSelect.count < slot + 1)
		q->attested.quote.pcrSelect.count = (UINT32)(slot + 1);
}

static void quote_selection(void **state)
{
	TPMS_ATTEST *q = calloc(1, sizeof(*q));
	struct skr_policy p;
	struct skr_err err = { 0 };
	const uint32_t bound = (1u << 4) | (1u << 7) | (1u << 23);

	assert_non_null(q);
	parse_ok("{\"pcrs\": {\"indexes\": [4, 7, 23]}}", &p);
	/* Exactly the bound PCRs. */
	select_pcrs(q, 0, SKR_TPM_ALG_SHA256, bound, 3);
	assert_ok(skr_policy_check_quote_selection(&p, q, &err), err);
	/* More than the bound ones: fine. */
	select_pcrs(q, 0, SKR_TPM_ALG_SHA256, 0xffffff, 3);
	assert_ok(skr_policy_check_quote_selection(&p, q, &err), err);
	/* One missing: pcr_not_quoted with the missing mask. */
	select_pcrs(q, 0, SKR_TPM_ALG_SHA256, bound & ~(1u << 7), 3);
	assert_failed_with(skr_policy_check_quote_selection(&p, q, &err), err, SKR_R_pcr_not_quoted,
			   "mask 0x000080 missing");
	/* A selection of 2 bytes cannot cover PCR 23. */
	skr_err_clear(&err);
	select_pcrs(q, 0, SKR_TPM_ALG_SHA256, bound, 2);
	assert_failed_with(skr_policy_check_quote_selection(&p, q, &err), err, SKR_R_pcr_not_quoted,
			   "mask 0x800000 missing");
	/* The right PCRs in another bank do not count. */
	skr_err_clear(&err);
	memset(q, 0, sizeof(*q));
	select_pcrs(q, 0, SKR_TPM_ALG_SHA1, bound, 3);
	assert_failed_with(skr_policy_check_quote_selection(&p, q, &err), err, SKR_R_pcr_not_quoted,
			   "mask 0x800090 missing");
	/* Spread over two selections of the bank: covered. */
	skr_err_clear(&err);
	select_pcrs(q, 1, SKR_TPM_ALG_SHA256, 1u << 4, 3);
	select_pcrs(q, 2, SKR_TPM_ALG_SHA256, (1u << 7) | (1u << 23), 3);
	assert_ok(skr_policy_check_quote_selection(&p, q, &err), err);
	/* A selection count beyond the array is not read past it. */
	q->attested.quote.pcrSelect.count = 1000;
	assert_ok(skr_policy_check_quote_selection(&p, q, &err), err);
	/* Only the policy's bank counts: PCR 7 quoted in sha384 alone is not quoted. */
	select_pcrs(q, 2, SKR_TPM_ALG_SHA384, (1u << 7) | (1u << 23), 3);
	assert_failed_with(skr_policy_check_quote_selection(&p, q, &err), err, SKR_R_pcr_not_quoted,
			   NULL);
	free(q);
}

/* ---- PCR reference sets ----------------------------------------------------------------- */

/* One bank of alg with PCR i = fill + i (every byte) for i in mask. */
static void make_bank(struct skr_pcr_banks *b, uint16_t alg, uint32_t mask, uint8_t fill)
{
	struct skr_err err = { 0 };
	struct skr_pcr_bank *k = &b->bank[b->count++];

	assert_ok(skr_pcr_bank_init(k, alg, &err), err);
	for (unsigned i = 0; i < SKR_PCR_COUNT; i++)
		if (mask & (1u << i)) {
			memset(k->value[i], (uint8_t)(fill + i), k->size);
			k->extended_mask |= 1u << i;
		}
}

static void pcr_reference_sets(void **state)
{
	struct skr_pcr_banks *seen = calloc(1, sizeof(*seen));
	struct skr_pcr_banks *sets = calloc(3, sizeof(*sets));
	struct skr_policy p;
	struct skr_err err = { 0 };
	size_t matched = 99;

	assert_non_null(seen);
	assert_non_null(sets);
	parse_ok("{\"pcrs\": {\"indexes\": [4, 7]}}", &p);
	make_bank(seen, SKR_TPM_ALG_SHA256, 0xffffff & ~(1u << 15), 0x10);
	/* Set 0 differs at PCR 7, set 1 equals at 4 and 7 (and differs elsewhere), set 2 at 4. */
	make_bank(&sets[0], SKR_TPM_ALG_SHA256, (1u << 4) | (1u << 7), 0x10);
	sets[0].bank[0].value[7][31] ^= 1;
	make_bank(&sets[1], SKR_TPM_ALG_SHA256, (1u << 0) | (1u << 4) | (1u << 7), 0x10);
	sets[1].bank[0].value[0][0] ^= 0xff;	/* PCR 0 is not bound: no matter */
	make_bank(&sets[2], SKR_TPM_ALG_SHA256, (1u << 4) | (1u << 7), 0x10);
	sets[2].bank[0].value[4][0] ^= 1;

	assert_ok(skr_policy_match_pcrs(&p, seen, sets, 3, &matched, &err), err);
	assert_int_equal(matched, 1);
	assert_ok(skr_policy_check_pcrs(&p, seen, sets, 3, &err), err);
	/* Two matching sets: the newest (last) is the one named. */
	memset(&sets[2], 0, sizeof(sets[2]));
	make_bank(&sets[2], SKR_TPM_ALG_SHA256, (1u << 4) | (1u << 7), 0x10);
	assert_ok(skr_policy_match_pcrs(&p, seen, sets, 3, &matched, &err), err);
	assert_int_equal(matched, 2);

	/* Only set 0 left: PCR 7 differs, the detail names it, its seen value and the allowed one. */
	assert_failed_with(skr_policy_match_pcrs(&p, seen, sets, 1, &matched, &err), err,
			   SKR_R_pcr_mismatch,
			   "PCR 7: seen 1717171717171717171717171717171717171717171717171717171717171717, "
			   "allowed 1717171717171717171717171717171717171717171717171717171717171716");
	assert_null(strstr(err.detail, "PCR 4"));
	assert_int_equal(matched, 0);

	/* No set at all: nothing is released. */
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_pcrs(&p, seen, sets, 0, &err), err, SKR_R_pcr_mismatch,
			   "no reference PCR sets");
	/* A set without a value for a bound PCR matches nothing there. */
	skr_err_clear(&err);
	sets[2].bank[0].extended_mask &= ~(1u << 7);
	assert_failed_with(skr_policy_check_pcrs(&p, seen, &sets[2], 1, &err), err,
			   SKR_R_pcr_mismatch, "PCR 7");
	/* Nor does seen without that value (a quote that left it out). */
	skr_err_clear(&err);
	sets[2].bank[0].extended_mask |= 1u << 7;
	seen->bank[0].extended_mask &= ~(1u << 4);
	assert_failed_with(skr_policy_check_pcrs(&p, seen, &sets[2], 1, &err), err,
			   SKR_R_pcr_mismatch, "PCR 4");
	seen->bank[0].extended_mask |= 1u << 4;
	skr_err_clear(&err);
	assert_ok(skr_policy_check_pcrs(&p, seen, &sets[2], 1, &err), err);

	free(seen);
	free(sets);
}

/* Of several sets the detail describes the closest one's differences. */
static void pcr_mismatch_names_closest_set(void **state)
{
	struct skr_pcr_banks *seen = calloc(1, sizeof(*seen));
	struct skr_pcr_banks *sets = calloc(2, sizeof(*sets));
	struct skr_policy p;
	struct skr_err err = { 0 };

	assert_non_null(seen);
	assert_non_null(sets);
	parse_ok("{\"pcrs\": {\"indexes\": [0, 4, 7]}}", &p);
	make_bank(seen, SKR_TPM_ALG_SHA256, 0x91, 0x20);
	/* Set 0 differs at 0, 4 and 7; set 1 at 4 only. */
	make_bank(&sets[0], SKR_TPM_ALG_SHA256, 0x91, 0x30);
	make_bank(&sets[1], SKR_TPM_ALG_SHA256, 0x91, 0x20);
	sets[1].bank[0].value[4][0] = 0;
	assert_failed_with(skr_policy_check_pcrs(&p, seen, sets, 2, &err), err, SKR_R_pcr_mismatch,
			   "PCR 4: seen 2424");
	assert_null(strstr(err.detail, "PCR 0"));
	assert_null(strstr(err.detail, "PCR 7"));
	/* Both sets' values are listed as allowed. */
	assert_non_null(strstr(err.detail, "allowed 3434"));
	assert_non_null(strstr(err.detail, " 0024"));
	free(seen);
	free(sets);
}

/* The bank is the policy's: values in another bank are not the bound ones. */
static void pcr_bank_of_the_policy(void **state)
{
	struct skr_pcr_banks *seen = calloc(1, sizeof(*seen));
	struct skr_pcr_banks *sets = calloc(1, sizeof(*sets));
	struct skr_policy p;
	struct skr_err err = { 0 };

	assert_non_null(seen);
	assert_non_null(sets);
	parse_ok("{\"pcrs\": {\"bank\": \"sha256\", \"indexes\": [7]}}", &p);
	make_bank(seen, SKR_TPM_ALG_SHA384, 1u << 7, 0x70);
	make_bank(&sets[0], SKR_TPM_ALG_SHA384, 1u << 7, 0x70);
	assert_failed_with(skr_policy_check_pcrs(&p, seen, sets, 1, &err), err, SKR_R_pcr_not_quoted,
			   "no sha256 PCR values");
	make_bank(seen, SKR_TPM_ALG_SHA256, 1u << 7, 0x70);
	/* The set has no sha256 bank: a mismatch, never a match. */
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_pcrs(&p, seen, sets, 1, &err), err, SKR_R_pcr_mismatch,
			   "PCR 7: seen 7777");
	assert_non_null(strstr(err.detail, "(none)"));
	make_bank(&sets[0], SKR_TPM_ALG_SHA256, 1u << 7, 0x70);
	skr_err_clear(&err);
	assert_ok(skr_policy_check_pcrs(&p, seen, sets, 1, &err), err);
	/* The sha256 value is compared over all 32 bytes. */
	sets[0].bank[1].value[7][31] ^= 1;
	assert_failed_with(skr_policy_check_pcrs(&p, seen, sets, 1, &err), err, SKR_R_pcr_mismatch,
			   NULL);
	free(seen);
	free(sets);
}

/* A stored policy without PCRs (before the rule) matches nothing, and PCR 15 is refused at use. */
static void pcr_match_fails_closed(void **state)
{
	struct skr_pcr_banks *seen = calloc(1, sizeof(*seen));
	struct skr_pcr_banks *sets = calloc(1, sizeof(*sets));
	struct skr_policy p;
	struct skr_err err = { 0 };
	size_t matched;

	assert_non_null(seen);
	assert_non_null(sets);
	make_bank(seen, SKR_TPM_ALG_SHA256, 0xffffff, 0);
	make_bank(&sets[0], SKR_TPM_ALG_SHA256, 0xffffff, 0);
	parse_ok("{}", &p);
	assert_failed_with(skr_policy_match_pcrs(&p, seen, sets, 1, &matched, &err), err,
			   SKR_R_binding_too_weak, NULL);
	skr_err_clear(&err);
	parse_ok("{\"pcrs\": {\"indexes\": [7, 15]}}", &p);
	assert_failed_with(skr_policy_match_pcrs(&p, seen, sets, 1, &matched, &err), err,
			   SKR_R_policy_invalid, "boot gate");
	free(seen);
	free(sets);
}

/*
 * snp-svsm: the SNP requirements and PCRs both (the vTPM measured the boot,
 * so the measurement is optional); PCRs required and PCR 15 refused as in
 * the TPM modes; no EK pin, no AK subject; no other mode's evidence.
 */
static void parse_snp_svsm(void **state)
{
	struct skr_policy p;
	struct skr_err err = { 0 };
	char json[512];

	(void)state;
	snprintf(json, sizeof(json),
		 "{\"tee\": \"snp-svsm\", \"snp\": {\"measurements\": [\"%s\"], "
		 "\"min_tcb\": {\"snp\": 8}}, \"pcrs\": {\"indexes\": [4, 7, 9]}}",
		 hexrep(0, 0xab, 48));
	parse_ok(json, &p);
	assert_int_equal(p.tee, SKR_TEE_SNP_SVSM);
	assert_string_equal(skr_tee_name(p.tee), "snp-svsm");
	assert_int_equal(p.n_measurements, 1);
	assert_true(p.has_min_tcb);
	assert_int_equal(p.min_tcb.snp, 8);
	assert_int_equal(p.pcr_mask, (1u << 4) | (1u << 7) | (1u << 9));
	assert_int_equal(p.max_vmpl, 0);
	assert_ok(skr_policy_check_binding(&p, &err), err);
	assert_ok(skr_policy_check_tee(&p, SKR_TEE_SNP_SVSM, &err), err);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_SNP, &err), err, SKR_R_tee_mismatch,
			   "\"snp-svsm\", the evidence is \"snp\"");
	skr_err_clear(&err);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_TPM, &err), err, SKR_R_tee_mismatch,
			   "the evidence is \"tpm\"");
	skr_err_clear(&err);
	/* A bare snp key refuses snp-svsm evidence too. */
	snprintf(json, sizeof(json), "{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"%s\"]}}",
		 hexrep(0, 0xab, 48));
	parse_ok(json, &p);
	assert_failed_with(skr_policy_check_tee(&p, SKR_TEE_SNP_SVSM, &err), err,
			   SKR_R_tee_mismatch, "the evidence is \"snp-svsm\"");
	skr_err_clear(&err);

	/* The measurement is optional: the PCRs bind the boot. */
	parse_ok("{\"tee\": \"snp-svsm\", \"pcrs\": {\"indexes\": [7]}}", &p);
	assert_int_equal(p.n_measurements, 0);
	assert_ok(skr_policy_check_binding(&p, &err), err);
	/* PCRs are required, and PCR 15 is the gate's. */
	parse_ok("{\"tee\": \"snp-svsm\", \"snp\": {}}", &p);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_binding_too_weak,
			   "binds no PCR");
	skr_err_clear(&err);
	parse_ok("{\"tee\": \"snp-svsm\", \"pcrs\": {\"indexes\": [7, 15]}}", &p);
	assert_failed_with(skr_policy_check_binding(&p, &err), err, SKR_R_policy_invalid,
			   "boot gate");
	skr_err_clear(&err);

	invalid("{\"tee\": \"snp-svsm\", \"ek_spki_sha256\": [\"" PIN_A "\"]}",
		"\"ek_spki_sha256\" does not apply to tee \"snp-svsm\"");
	invalid("{\"tee\": \"snp-svsm\", \"ak_subjects\": [\"x\"]}",
		"\"ak_subjects\" does not apply to tee \"snp-svsm\"");
	invalid("{\"tee\": \"snp-svsm\", \"snp\": {\"max_vmpl\": 4}}", "max_vmpl");
	invalid("{\"tee\": \"snp_svsm\"}", "\"snp-svsm\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_documented_policy),
		cmocka_unit_test(parse_defaults),
		cmocka_unit_test(parse_azure_tl),
		cmocka_unit_test(parse_refuses_unknown_keys),
		cmocka_unit_test(parse_refuses_malformed_members),
		cmocka_unit_test(parse_refuses_non_hex_with_policy_invalid),
		cmocka_unit_test(parse_pcr_banks),
		cmocka_unit_test(binding_rules),
		cmocka_unit_test(tcb_minimums_milan),
		cmocka_unit_test(tcb_minimums_turin),
		cmocka_unit_test(vmpl_limit),
		cmocka_unit_test(debug_policy_bit),
		cmocka_unit_test(snp_check_order),
		cmocka_unit_test(measurements_and_pins),
		cmocka_unit_test(quote_selection),
		cmocka_unit_test(pcr_reference_sets),
		cmocka_unit_test(pcr_mismatch_names_closest_set),
		cmocka_unit_test(pcr_bank_of_the_policy),
		cmocka_unit_test(pcr_match_fails_closed),
		cmocka_unit_test(parse_tpm),
		cmocka_unit_test(parse_tpm_ek_pins),
		cmocka_unit_test(parse_snp_svsm),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skr-fake-azure --tcti TCTI --out DIR [options]: provisions a running TPM
 * (swtpm) the way Azure's paravisor provisions a CVM's vTPM: the AK at
 * 0x81000003 and the HCL report (test AMD chain, SNP report binding the
 * claims with the AK as HCLAkPub) in NV 0x01400001.  See
 * tests/helpers/fakevtpm.h.  Test tool; never installed.
 *
 *   --debug             SNP POLICY.DEBUG set
 *   --tcb-snp N         SNP SPL of the VCEK and the report
 *   --measurement HEX   48-byte launch measurement
 *   --chip-seed N       derive CHIP_ID (and the VCEK's hwID) from N
 *   --user-data HEX     claims "user-data" (at most 64 bytes)
 *   --no-hcl            leave NV 0x01400001 undefined (unprovisioned paravisor)
 *   --define-only       define NV 0x01400001 but never write it
 *
 * Writes DIR/hcl.bin, report.bin, claims.json, ak.pem, ak.pub (TPM2B_PUBLIC)
 * and the chain (ark.pem, ask.pem, chain.pem, vcek.der, vcek.pem, ...).
 *
 * skr-fake-azure provision-tl --tcti TCTI --out DIR --ca-dir CADIR [options]:
 * provisions it as Azure provisions a Trusted Launch vTPM instead (see
 * tests/helpers/faketl.h): the AK at 0x81000003 with Azure's AK template,
 * its certificate (DER) in NV 0x01C101D0 issued by CADIR's test intermediate
 * (no AIA) under CADIR's test root (both made when CADIR has none yet), no
 * HCL report.  A foreign CA is another CADIR.
 *
 *   --subject CN        the certificate's subject CN
 *   --expired           a certificate that expired yesterday
 *   --cert-other-key    a certificate for another key than the AK
 *   --ak KIND           azure (default), unrestricted, rsapss
 *   --no-cert           no NV 0x01C101D0 either (neither index)
 *
 * Writes DIR/akcert.der, akcert.pem, ak.pem, ak.pub, root.pem and
 * intermediate.pem.
 * Exit status: 0 done, 1 TPM or provisioning failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "faketl.h"
#include "fakevtpm.h"
#include "verify/hcl_report.h"

static void usage(FILE *f)
{
	fputs("usage: skr-fake-azure --tcti TCTI --out DIR [--debug] [--tcb-snp N]\n"
	      "       [--measurement HEX] [--chip-seed N] [--user-data HEX] [--no-hcl | --define-only]\n"
	      "       skr-fake-azure provision-tl --tcti TCTI --out DIR --ca-dir CADIR [--subject CN]\n"
	      "       [--expired] [--cert-other-key] [--ak azure|unrestricted|rsapss] [--no-cert]\n",
	      f);
}

static int parse_tl_ak(const char *s, enum skr_faketl_ak *ak)
{
	if (strcmp(s, "azure") == 0)
		*ak = SKR_FAKETL_AK_AZURE;
	else if (strcmp(s, "unrestricted") == 0)
		*ak = SKR_FAKETL_AK_UNRESTRICTED;
	else if (strcmp(s, "rsapss") == 0)
		*ak = SKR_FAKETL_AK_RSAPSS;
	else
		return -1;
	return 0;
}

/* provision-tl: argv[0] is "provision-tl". */
static int main_tl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tcti", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "ca-dir", required_argument, NULL, 'c' },
		{ "subject", required_argument, NULL, 's' },
		{ "expired", no_argument, NULL, 'e' },
		{ "cert-other-key", no_argument, NULL, 'k' },
		{ "ak", required_argument, NULL, 'a' },
		{ "no-cert", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct skr_faketl_opts o = { 0 };
	struct skr_faketl f;
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	struct skr_err err = { 0 };
	const char *tcti = NULL, *dir = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'o': dir = optarg; break;
		case 'c': o.ca_dir = optarg; break;
		case 's': o.subject_cn = optarg; break;
		case 'e': o.expired = true; break;
		case 'k': o.cert_other_key = true; break;
		case 'n': o.no_cert = true; break;
		case 'a':
			if (parse_tl_ak(optarg, &o.ak) < 0) {
				fprintf(stderr, "skr-fake-azure: --ak wants azure, unrestricted or rsapss\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!tcti || !dir || !o.ca_dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (skr_tpm_open(tcti, &tpm, &err) < 0 || skr_faketl_provision(tpm, &o, &f, &err) < 0) {
		fprintf(stderr, "skr-fake-azure: %s: %s\n", skr_reason_name(err.reason), err.detail);
		return 1;
	}
	if (skr_faketl_write(&f, dir, &err) < 0) {
		fprintf(stderr, "skr-fake-azure: %s: %s\n", skr_reason_name(err.reason), err.detail);
		skr_faketl_free(&f);
		return 1;
	}
	printf("Trusted Launch: AK at 0x%08x; AK certificate %s NV 0x%08x; no HCL report; files in %s\n",
	       SKR_TPM_AK_HANDLE, o.no_cert ? "not in" : "in", SKR_TPM_AKCERT_NV_INDEX, dir);
	skr_faketl_free(&f);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return (errno || !*s || *end || *s == '-' || *out > max) ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tcti", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "debug", no_argument, NULL, 'd' },
		{ "tcb-snp", required_argument, NULL, 's' },
		{ "measurement", required_argument, NULL, 'm' },
		{ "chip-seed", required_argument, NULL, 'c' },
		{ "user-data", required_argument, NULL, 'u' },
		{ "no-hcl", no_argument, NULL, 'n' },
		{ "define-only", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct skr_fakevtpm_opts o;
	struct skr_fakevtpm f;
	_cleanup_tpm_ struct skr_tpm *tpm = NULL;
	_cleanup_buf_ struct skr_buf user_data = { 0 };
	struct skr_err err = { 0 };
	const char *tcti = NULL, *dir = NULL;
	unsigned long v;
	int c;

	if (argc > 1 && strcmp(argv[1], "provision-tl") == 0)
		return main_tl(argc - 1, argv + 1);
	skr_fakevtpm_opts_init(&o);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			tcti = optarg;
			break;
		case 'o':
			dir = optarg;
			break;
		case 'd':
			o.debug = true;
			break;
		case 's':
			if (parse_uint(optarg, 255, &v) < 0) {
				fprintf(stderr, "skr-fake-azure: --tcb-snp wants 0..255\n");
				return 2;
			}
			o.tcb_snp = (int)v;
			break;
		case 'm': {
			_cleanup_buf_ struct skr_buf m = { 0 };

			if (skr_hex_decode(optarg, strlen(optarg), &m, "--measurement", &err) < 0 ||
			    m.len != sizeof(o.measurement)) {
				fprintf(stderr, "skr-fake-azure: --measurement wants 48 bytes of hex\n");
				return 2;
			}
			memcpy(o.measurement, m.data, m.len);
			o.have_measurement = true;
			break;
		}
		case 'c':
			if (parse_uint(optarg, 0xFFFFFFFFul, &v) < 0) {
				fprintf(stderr, "skr-fake-azure: --chip-seed wants a 32-bit number\n");
				return 2;
			}
			o.chip_seed = (uint32_t)v;
			o.have_chip_seed = true;
			break;
		case 'u':
			skr_buf_free(&user_data);
			if (skr_hex_decode(optarg, strlen(optarg), &user_data, "--user-data", &err) < 0 ||
			    user_data.len == 0 || user_data.len > 64) {
				fprintf(stderr, "skr-fake-azure: --user-data wants 1 to 64 bytes of hex\n");
				return 2;
			}
			o.user_data = user_data.data;
			o.user_data_len = user_data.len;
			break;
		case 'n':
			o.no_hcl = true;
			break;
		case 'D':
			o.define_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!tcti || !dir || optind != argc || (o.no_hcl && o.define_only)) {
		usage(stderr);
		return 2;
	}

	if (skr_tpm_open(tcti, &tpm, &err) < 0 || skr_fakevtpm_provision(tpm, &o, &f, &err) < 0) {
		fprintf(stderr, "skr-fake-azure: %s: %s\n", skr_reason_name(err.reason), err.detail);
		return 1;
	}
	if (skr_fakevtpm_write(&f, dir, &err) < 0) {
		fprintf(stderr, "skr-fake-azure: %s: %s\n", skr_reason_name(err.reason), err.detail);
		skr_fakevtpm_free(&f);
		return 1;
	}
	printf("AK at 0x%08x; HCL report of %zu bytes %s NV 0x%08x; files in %s\n",
	       SKR_TPM_AK_HANDLE, f.hcl.len,
	       o.no_hcl ? "not in" : o.define_only ? "NOT written to (index defined) in" : "in",
	       SKR_HCL_NV_INDEX, dir);
	skr_fakevtpm_free(&f);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bare SEV-SNP parts of enroll (tee "snp", no vTPM, docs/DESIGN.md 2.3):
 * the key's policy and the disk-tag boot gate.  enroll.c calls them when
 * skr_release_path says this VM's release takes the bare snp path.
 *
 * Why a gate check at enrollment: there is no PCR 15 here, so the measured
 * initramfs hands a passphrase-opened volume over only when its tag
 * (luks/disk_tag.h) is listed in rd.skr.disk= on the measured kernel command
 * line, and only a command line with panic= keeps initramfs-tools from
 * giving a shell.  A key enrolled on a VM whose command line lacks either
 * would be released to a boot that hands the host's volume over; so enroll
 * refuses (binding_too_weak) before anything is written, and says exactly
 * what to add, unless the operator chose --weak-binding.
 */
#ifndef SKR_ENROLL_SNP_H
#define SKR_ENROLL_SNP_H

#include <stdbool.h>

#include <json-c/json.h>

#include "luks/enroll.h"

/*
 * *policy (malloc'ed JSON text): the given one, which must be tee "snp" with
 * no "pcrs" and a pinned measurement (usage otherwise), or one from this
 * VM's own SNP report:
 *   {"tee":"snp","snp":{"allow_debug":false,"max_vmpl":V,"min_tcb":{...},
 *    "measurements":["hex96"]}}
 * A debug guest is refused (snp_debug_enabled); --pcrs is a usage error.
 */
int skr_enroll_snp_policy(const struct skr_enroll_opts *o, char **policy, struct skr_err *err);

/*
 * The "snp" member of a policy from report r: debugging off (a debug guest
 * is refused, snp_debug_enabled), r's VMPL as "max_vmpl", its reported TCB
 * as "min_tcb", its launch measurement as the only one in "measurements".
 * Every mode that reads a report at enrollment (az-snp-vtpm's HCL report
 * too) makes the member here.
 */
struct skr_snp_report;
int skr_enroll_snp_member(const struct skr_snp_report *r, json_object **snp, struct skr_err *err);

/*
 * The "snp" member of a policy from this VM's own report (debug off, its
 * VMPL, reported TCB, launch measurement); svsm: for tee "snp-svsm", whose
 * evidence is the SVSM's VMPL0 report, so "max_vmpl" is 0.
 */
int skr_enroll_snp_own(bool svsm, json_object **snp, struct skr_err *err);

struct crypt_device;
/*
 * This volume's tag (into r->disk_tag) and the kernel command line's gate
 * (skr_cmdline_read(NULL)): the tag listed in rd.skr.disk= and a panic=
 * word.  Otherwise binding_too_weak naming what to add, or, with
 * o->weak_binding, the same as r->warning.
 */
int skr_enroll_snp_gate(struct crypt_device *cd, const struct skr_enroll_opts *o,
			struct skr_enroll_result *r, struct skr_err *err);

#endif

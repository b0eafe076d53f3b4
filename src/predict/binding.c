/* SPDX-License-Identifier: Apache-2.0 */
#include "predict/binding.h"

#include <stdio.h>
#include <string.h>

#include "common/gate.h"
#include "predict/predict.h"

#define BIT(n) (UINT32_C(1) << (n))

static const char *const part_names[SKR_BIND_PARTS] = {
	[SKR_BIND_KERNEL] = "the kernel",
	[SKR_BIND_INITRD] = "the initrd",
	[SKR_BIND_CMDLINE] = "the command line",
	[SKR_BIND_SECUREBOOT] = "the Secure Boot state",
};

void skr_binding_mask_text(uint32_t mask, char *out, size_t size)
{
	size_t used = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < SKR_PCR_COUNT && used < size; i++)
		if (mask & BIT(i))
			used += (size_t)snprintf(out + used, size - used, "%s%u", used ? "," : "", i);
}

static bool is_grub(const char *chain)
{
	return !strcmp(chain, "grub") || !strcmp(chain, "shim+grub");
}

static void add_note(struct skr_binding *b, const char *what)
{
	size_t used = strlen(b->note);

	snprintf(b->note + used, sizeof(b->note) - used, "%sthis boot's event log shows no measurement of %s: no PCR records it",
		 used ? "; " : "", what);
}

/* UKI: the image's sections are in its Authenticode digest (PCR 4) and in PCR 11. */
static void analyse_uki(const struct skr_predict_measured *m, struct skr_binding *b)
{
	uint32_t sections = BIT(4) | BIT(11);
	uint32_t override = m->cmdline & (BIT(8) | BIT(12));

	b->part[SKR_BIND_KERNEL] = sections;
	b->part[SKR_BIND_INITRD] = sections | m->initrd;
	/* systemd-stub measures a command line it takes from the loader into PCR 12:
	 * then the .cmdline section is not what ran. */
	b->part[SKR_BIND_CMDLINE] = override ? m->cmdline : sections | m->cmdline;
}

static void analyse_loader(const struct skr_predict_measured *m, struct skr_binding *b)
{
	bool grub = is_grub(b->chain);

	b->part[SKR_BIND_KERNEL] = BIT(4) | (grub ? BIT(9) : 0);
	b->part[SKR_BIND_INITRD] = m->initrd;
	if (!m->initrd) {
		add_note(b, "the initrd");
		b->part[SKR_BIND_INITRD] = BIT(9);
	}
	b->part[SKR_BIND_CMDLINE] = m->cmdline;
	if (!m->cmdline) {
		add_note(b, "the command line");
		b->part[SKR_BIND_CMDLINE] = grub ? BIT(8) : BIT(9);
	}
}

void skr_binding_analyse(const struct skr_eventlog *log, struct skr_binding *b)
{
	struct skr_predict_measured m;
	unsigned i;

	memset(b, 0, sizeof(*b));
	b->part[SKR_BIND_SECUREBOOT] = BIT(7);
	if (!log) {
		b->chain = "unknown";
		b->part[SKR_BIND_KERNEL] = BIT(4);
		b->part[SKR_BIND_INITRD] = BIT(9);
		b->part[SKR_BIND_CMDLINE] = BIT(9);
		return;
	}
	skr_predict_measured(log, &m);
	b->chain = m.chain;
	if (!strcmp(b->chain, "uki"))
		analyse_uki(&m, b);
	else
		analyse_loader(&m, b);
	for (i = 0; i < SKR_BIND_PARTS; i++)
		b->recommended |= b->part[i];
	/* PCR 11 is extended again by systemd-pcrphase; 15 is the boot gate. */
	b->recommended &= ~(BIT(11) | BIT(SKR_GATE_PCR));
}

unsigned skr_binding_unmeasured(const struct skr_binding *b, uint32_t mask, char *text,
				size_t size)
{
	unsigned parts = 0, i;
	size_t used = 0;
	char pcrs[64];

	if (text && size)
		text[0] = '\0';
	for (i = 0; i < SKR_BIND_PARTS; i++) {
		if (mask & b->part[i])
			continue;
		parts |= 1u << i;
		if (!text || used >= size)
			continue;
		skr_binding_mask_text(b->part[i], pcrs, sizeof(pcrs));
		used += (size_t)snprintf(text + used, size - used, "%s%s (PCR %s)", used ? ", " : "",
					 part_names[i], pcrs);
	}
	return parts;
}

int skr_binding_resolve(const struct skr_binding *b, bool given, uint32_t mask, bool weak_ok,
			uint32_t *out, char *warning, size_t size, struct skr_err *err)
{
	char missing[256], have[64], want[64];
	uint32_t strong = b->recommended ? b->recommended : BIT(4) | BIT(7) | BIT(9);

	if (size)
		warning[0] = '\0';
	skr_binding_mask_text(strong, want, sizeof(want));
	if (!given && !b->recommended)
		return skr_fail(err, SKR_R_binding_too_weak,
				"no TCG event log: the boot chain is unknown and no default binding can be chosen; give --pcrs (%s covers the kernel, initrd, command line of recent EFI stubs and Secure Boot state) or --eventlog",
				want);
	if (!given)
		mask = b->recommended;
	if (!mask)
		return skr_fail(err, SKR_R_binding_too_weak,
				"the PCR set is empty: the key would be released to any boot state; bind %s (boot chain %s)",
				want, b->chain);
	if (mask & BIT(SKR_GATE_PCR))
		return skr_fail(err, SKR_R_usage,
				"PCR %d is the boot gate: the broker checks it on its own and no key may bind it",
				SKR_GATE_PCR);
	skr_binding_mask_text(mask, have, sizeof(have));
	if (skr_binding_unmeasured(b, mask, missing, sizeof(missing))) {
		if (!weak_ok)
			return skr_fail(err, SKR_R_binding_too_weak,
					"PCRs %s leave %s unmeasured (boot chain %s): a host that edits the ESP is released with its own; bind %s, or pass --weak-binding to accept the weaker binding",
					have, missing, b->chain, want);
		snprintf(warning, size,
			 "--weak-binding: PCRs %s leave %s unmeasured (boot chain %s): a host that edits the ESP can change them and the key is still released%s%s",
			 have, missing, b->chain, b->note[0] ? "; " : "", b->note);
	}
	*out = mask;
	return 0;
}

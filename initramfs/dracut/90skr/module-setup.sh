#!/bin/bash
# dracut module of skr: installs the libcryptsetup token plugin (and the
# TPM libraries it loads) where libcryptsetup looks for it, so that
# systemd-cryptsetup unlocks an skr-enrolled volume by token and, when the
# release fails, asks for the passphrase itself.  Networking is pulled in
# only when /etc/skr/skr.conf allows it; systemd-cryptsetup then waits for
# network-online, which systemd-networkd-wait-online reaches within
# SKR_NETWORK_TIMEOUT seconds or gives up on.  skr-unlock comes too, for the
# pre-pivot hook (skr-handover.sh) that closes the boot gate (PCR 15) before
# switch_root.

skr_conf() {
    SKR_NETWORK=auto
    SKR_NETWORK_TIMEOUT=15
    SKR_MODULES=""
    [[ -r /etc/skr/skr.conf ]] && . /etc/skr/skr.conf
}

skr_unlock() {
    local f
    for f in /usr/sbin/skr-unlock /usr/local/sbin/skr-unlock /sbin/skr-unlock; do
        [[ -x $f ]] && { echo "$f"; return 0; }
    done
    return 1
}

skr_plugin() {
    local dir
    for dir in /lib/x86_64-linux-gnu/cryptsetup /usr/lib/x86_64-linux-gnu/cryptsetup \
        /usr/lib64/cryptsetup /usr/lib/cryptsetup /usr/local/lib/x86_64-linux-gnu/cryptsetup; do
        [[ -e $dir/libcryptsetup-token-skr.so ]] && { echo "$dir/libcryptsetup-token-skr.so"; return 0; }
    done
    return 1
}

check() {
    skr_plugin > /dev/null || return 1
    require_binaries systemd-cryptsetup 2> /dev/null || [[ -x /lib/systemd/systemd-cryptsetup ]] ||
        [[ -x /usr/lib/systemd/systemd-cryptsetup ]] || return 1
    return 0
}

depends() {
    skr_conf
    if [[ $SKR_NETWORK == no ]]; then
        echo crypt systemd
    else
        echo crypt systemd systemd-networkd
    fi
}

installkernel() {
    skr_conf
    instmods tpm_crb tpm_tis tpm_tis_core
    # Bare SEV-SNP: /dev/sev-guest and configfs-tsm (udev loads them by
    # modalias; systemd mounts configfs), where the kernel has them as modules.
    hostonly='' instmods sev-guest tsm tsm_report
    [[ $SKR_NETWORK == no ]] || instmods virtio_net virtio_pci hv_vmbus hv_netvsc mlx4_en mlx5_core
    [[ -z $SKR_MODULES ]] || instmods $SKR_MODULES
}

install() {
    local plugin lib dep unlock
    skr_conf
    plugin=$(skr_plugin)
    # dracut's crypt module may have copied the plugin already, and
    # dracut-install follows the libraries of executable files only (a .so is
    # 0644): install the whole closure ldd names, so OpenSSL, tss2 and json-c
    # are there.  libtss2-tctildr opens its TCTI with dlopen: add that too.
    for lib in "$plugin" /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 \
        /usr/lib64/libtss2-tcti-device.so.0; do
        [[ -e $lib ]] || continue
        inst_library "$lib"
        for dep in $(ldd "$lib" 2> /dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
            inst_library "$dep"
        done
    done
    inst_simple "$moddir/skr.conf" /etc/skr/skr.conf.dracut
    # The client configuration and the CA file(s) it names: the plugin takes
    # the brokers, the CA and the TPM from them, never from the LUKS2 header.
    # skr-unlock --config-files checks them as the boot will and lists them.
    # The boot gate: skr-unlock --handover just before switch_root.
    local unlock files f
    if unlock=$(skr_unlock); then
        inst_binary "$unlock" /usr/sbin/skr-unlock
        inst_hook pre-pivot 90 "$moddir/skr-handover.sh"
        if files=$("$unlock" --config-files); then
            while IFS= read -r f; do
                [[ -n $f ]] && inst_simple "$f"
            done <<< "$files"
        else
            dwarning "skr: no usable /etc/skr/client.json: the initrd will not unlock by attestation"
        fi
    else
        dwarning "skr: skr-unlock not found: no attested unlock, and PCR 15 is not extended at switch_root"
    fi
    if [[ $SKR_NETWORK != no ]]; then
        inst_simple "$moddir/cryptsetup-network.conf" \
            /etc/systemd/system/systemd-cryptsetup@.service.d/skr-network.conf
        mkdir -p "$initdir/etc/systemd/system/systemd-networkd-wait-online.service.d"
        printf '[Service]\nExecStart=\nExecStart=%s --any --timeout=%s\n' \
            "$(find_binary /lib/systemd/systemd-networkd-wait-online || echo /usr/lib/systemd/systemd-networkd-wait-online)" \
            "${SKR_NETWORK_TIMEOUT}" \
            > "$initdir/etc/systemd/system/systemd-networkd-wait-online.service.d/skr.conf"
        # A DHCP default only where the host gave the initrd no network of its own.
        if ! ls "$initdir"/etc/systemd/network/*.network > /dev/null 2>&1; then
            inst_simple "$moddir/90-skr-dhcp.network" /etc/systemd/network/90-skr-dhcp.network
        fi
        $SYSTEMCTL -q --root "$initdir" enable systemd-networkd-wait-online.service 2> /dev/null || true
    fi
}

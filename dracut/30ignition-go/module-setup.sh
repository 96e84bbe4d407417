#!/bin/bash
# dracut module for ignition-go: installs the ignition binary, the kernel
# argument helper, the programs the stages run, and one systemd unit per
# stage, pulled in on first boot (kernel argument ignition.firstboot) by the
# generator. docs/operators.md says how to add it to a distro's initramfs.
#
# The binaries are taken from $IGNITION_GO_BIN (else /usr/bin/ignition) and
# $IGNITION_GO_KARGS_HELPER (else /usr/sbin/ignition-kargs-helper).

check() {
    # only when a distro module or --add asks for it, as Ignition's own module
    return 255
}

depends() {
    # udev makes the /dev/disk/by-* links configs name; networking is the
    # distro's choice (add systemd-networkd or network for remote configs)
    echo systemd udev-rules
}

installkernel() {
    hostonly='' instmods qemu_fw_cfg md_mod raid0 raid1 raid10 raid456 dm_mod dm_crypt ext4 xfs btrfs vfat \
        nls_cp437 nls_iso8859_1 sr_mod cdrom udf isofs ahci ata_piix hv_storvsc hv_netvsc hv_utils \
        virtio_blk virtio_pci virtio_net virtio_scsi
}

install() {
    inst_binary "${IGNITION_GO_BIN:-/usr/bin/ignition}" /usr/bin/ignition
    # the kargs stage runs the helper here (stages.DefaultKargsHelper)
    inst_binary "${IGNITION_GO_KARGS_HELPER:-/usr/sbin/ignition-kargs-helper}" /usr/sbin/ignition-kargs-helper
    # every program the stages run (each is logged by name when it runs):
    # files: shadow-utils, systemctl, setfiles; disks: sgdisk, blkid,
    # wipefs, mkfs.*, mkswap, mdadm, cryptsetup, clevis, udevadm; mount
    # and umount; modprobe (fw_cfg)
    inst_multiple -o sh mkdir \
        useradd usermod userdel groupadd groupmod groupdel \
        systemctl setfiles mount umount modprobe udevadm \
        sgdisk blkid wipefs mkfs.ext4 mkfs.xfs mkfs.btrfs mkfs.fat mkswap \
        mdadm cryptsetup
    # clevis binding (LUKS with tang or a TPM2): clevis is shell scripts
    # that run these (traced in tests/qemu/tang_test.go); only when the
    # distro ships clevis
    if command -v clevis >/dev/null 2>&1; then
        inst_multiple -o bash clevis clevis-luks-bind clevis-luks-common-functions \
            clevis-encrypt-sss clevis-encrypt-tang clevis-encrypt-tpm2 clevis-decrypt \
            clevis-decrypt-sss clevis-decrypt-tang clevis-decrypt-tpm2 jose curl pwmake \
            cat grep sed sort tail head mktemp tr wc
        inst_multiple -o /etc/security/pwquality.conf /var/cache/cracklib/cracklib_dict.pwd \
            /var/cache/cracklib/cracklib_dict.pwi /var/cache/cracklib/cracklib_dict.hwm
        # the TPM2 pin: tpm2-tools (one binary under several names) and the
        # TCTI library it loads with dlopen (traced in tests/qemu/tpm2_test.go)
        inst_multiple -o tpm2 tpm2_createprimary tpm2_create tpm2_createpolicy tpm2_flushcontext \
            tpm2_load tpm2_unseal tpm2_pcrread
        inst_libdir_file "libtss2-tcti-device.so*" || :
    fi
    # ignition-rmcfg (the same binary, by name) deletes the config from the
    # hypervisor after provisioning on vmware and virtualbox; the local
    # transports of those platforms and z/VM's reader
    ln_r /usr/bin/ignition /usr/bin/ignition-rmcfg
    inst_multiple -o vmware-rpctool VBoxControl vmur chccwdev cio_ignore
    inst_simple "$moddir/ignition-generator" "$systemdutildir/system-generators/ignition-generator"
    local u
    for u in ignition-fetch-offline.service ignition-fetch.service ignition-kargs.service \
             ignition-disks.service ignition-mount.service ignition-files.service ignition-complete.target \
             ignition-remount-sysroot.service ignition-success.service; do
        inst_simple "$moddir/$u" "$systemdsystemunitdir/$u"
    done
}

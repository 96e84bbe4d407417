#!/bin/bash
# dracut module for ignition-go: installs the ignition binary, its helper
# programs, and one systemd unit per stage, run on first boot (kernel
# argument ignition.firstboot) with Ignition's command line.
#
# The binary is taken from $IGNITION_GO_BIN, else /usr/bin/ignition.

check() {
    # only when a distro module asks for it, as Ignition's own module
    return 255
}

depends() {
    echo systemd
}

installkernel() {
    hostonly='' instmods qemu_fw_cfg md_mod raid0 raid1 raid10 raid456 dm_mod dm_crypt ext4 xfs btrfs vfat
}

install() {
    inst_binary "${IGNITION_GO_BIN:-/usr/bin/ignition}" /usr/bin/ignition
    # every program the stages run (each is logged by name when it runs):
    # files: shadow-utils, systemctl, setfiles; disks: sgdisk, blkid,
    # wipefs, mkfs.*, mkswap, mdadm, cryptsetup, clevis, udevadm; mount
    # and umount; modprobe (fw_cfg); the kargs helper
    inst_multiple -o ignition-kargs-helper \
        useradd usermod userdel groupadd groupmod groupdel \
        systemctl setfiles mount umount modprobe udevadm \
        sgdisk blkid wipefs mkfs.ext4 mkfs.xfs mkfs.btrfs mkfs.fat mkswap \
        mdadm cryptsetup clevis clevis-luks-bind
    # shadow-utils read these inside the target; keep PAM quiet in the initrd
    inst_simple "$moddir/ignition-generator" "$systemdutildir/system-generators/ignition-generator"
    local u
    for u in ignition-fetch-offline.service ignition-fetch.service ignition-kargs.service \
             ignition-disks.service ignition-mount.service ignition-files.service ignition-complete.target; do
        inst_simple "$moddir/$u" "$systemdsystemunitdir/$u"
    done
}

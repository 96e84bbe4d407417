#!/bin/bash
# image/build.sh (make image): a bootable Debian 12 disk image with
# ignition-go installed and the first-boot stamp set, in build/image/:
# ignition-go-debian12.raw and .qcow2. GPT: a BIOS boot partition (GRUB
# for SeaBIOS), an EFI system partition (GRUB for UEFI, removable path
# EFI/BOOT/BOOTX64.EFI) and an ext4 root (label root) holding /boot.
#
# The root is made by debootstrap (minbase plus the kernel, dracut, GRUB,
# systemd-networkd and openssh-server; no cloud-init), cached in
# .cache/image/ so the next build only copies it. The package is installed
# with dpkg in a chroot on the image's own root filesystem; dracut (with
# the package's conf: our module and systemd-networkd) rebuilds the
# initramfs; grub-install writes the BIOS boot code, update-grub the
# menu (with the package's snippet); the EFI binary is made by grub-mkimage
# and written into a FAT image with mtools (no vfat mount needed).
#
# Settings (environment): DEB (the package; default: the newest in build/),
# IMAGE_OUT (build/image), IMAGE_CACHE (.cache/image), IMAGE_SIZE (2G),
# IMAGE_PLATFORM (default empty: no ignition.platform.id, the platform is
# detected from SMBIOS/DMI and the firmware on each boot; an id bakes it in), IMAGE_HOSTNAME (debian), IMAGE_MIRROR (the host's Debian mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "image: [$(( $(date +%s) - start )) s] $*"; }

DEB=${DEB:-$(ls -t build/ignition-go_*_amd64.deb 2>/dev/null | head -1)}
OUT=${IMAGE_OUT:-build/image}
CACHE=${IMAGE_CACHE:-.cache/image}
SIZE=${IMAGE_SIZE:-2G}
PLATFORM=${IMAGE_PLATFORM-}
HOST=${IMAGE_HOSTNAME:-debian}
SUITE=bookworm
MIRROR=${IMAGE_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
NAME=ignition-go-debian12

[ "$(id -u)" = 0 ] || { echo "image: needs root (loop devices, mounts, chroot)" >&2; exit 1; }
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "image: no package (make deb builds it; or set DEB)" >&2; exit 1; }
for t in debootstrap sgdisk losetup partx mkfs.ext4 mkfs.vfat mmd mcopy qemu-img chroot; do
    command -v $t >/dev/null || { echo "image: $t is missing (make test-deps installs what make image needs)" >&2; exit 1; }
done

# --- the cached base root ----------------------------------------------------
# debootstrap's resolver takes the first alternative of the kernel's
# initramfs tool (initramfs-tools, which conflicts with dracut), so the
# kernel, dracut and GRUB come second, by apt in the chroot; every package
# downloaded is kept in $CACHE/debs for the next cold build
PKGS1="systemd-sysv udev dbus openssh-server gdisk e2fsprogs passwd"
PKGS2="dracut dracut-network linux-image-amd64 grub-pc-bin grub-efi-amd64-bin grub2-common"
base=$CACHE/base-$SUITE
if [ "$(cat "$base/.ignition-go-base" 2>/dev/null)" != "$PKGS1 $PKGS2" ]; then
    say "debootstrap $SUITE (minbase + $PKGS1), then $PKGS2, into $base (once; a few minutes)"
    rm -rf "$base.new" && mkdir -p "$CACHE/debs/partial"
    debs=$(realpath "$CACHE/debs")
    debootstrap --variant=minbase --cache-dir="$debs" --include="${PKGS1// /,}" "$SUITE" "$base.new" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
        { tail -30 "$CACHE/debootstrap.log"; exit 1; }
    mount -t proc proc "$base.new/proc"
    mount --bind "$debs" "$base.new/var/cache/apt/archives"
    ok=0
    (
        set -e
        export DEBIAN_FRONTEND=noninteractive
        chroot "$base.new" apt-get -qq update
        chroot "$base.new" apt-get -y -qq --no-install-recommends install dracut dracut-network
        # no initramfs for the base: the image's is built with our module
        chmod -x "$base.new/etc/kernel/postinst.d/dracut"
        chroot "$base.new" apt-get -y -qq --no-install-recommends install $PKGS2
        chmod +x "$base.new/etc/kernel/postinst.d/dracut"
    ) >> "$CACHE/debootstrap.log" 2>&1 && ok=1
    umount "$base.new/var/cache/apt/archives" "$base.new/proc"
    [ "$ok" = 1 ] || { tail -30 "$CACHE/debootstrap.log"; exit 1; }
    rm -f "$base.new"/boot/initrd.img-* "$base.new"/var/lib/apt/lists/*_Packages
    echo "$PKGS1 $PKGS2" > "$base.new/.ignition-go-base"
    rm -rf "$base" && mv "$base.new" "$base"
else
    say "reusing the base root $base"
fi

# --- the disk ---------------------------------------------------------------
mkdir -p "$OUT"
work=$(mktemp -d "$CACHE/work-XXXXXX")
mnt=$work/root
raw=$OUT/$NAME.raw
loop=
cleanup() {
    set +e
    for m in dev/disk dev/pts dev proc sys; do mountpoint -q "$mnt/$m" && umount "$mnt/$m"; done
    mountpoint -q "$mnt" && umount "$mnt"
    if [ -n "$loop" ]; then partx -d "$loop" 2>/dev/null; losetup -d "$loop"; fi
    rm -rf "$work"
}
trap cleanup EXIT
rm -f "$raw.new" && truncate -s "$SIZE" "$raw.new"
sgdisk -o -n1:2048:+1M -t1:ef02 -c1:bios -n2:0:+63M -t2:ef00 -c2:esp -n3:0:0 -t3:8304 -c3:root "$raw.new" >/dev/null
loop=$(losetup -f --show "$raw.new")
partx -a "$loop"
mkfs.ext4 -q -L root "${loop}p3"
uuid=$(blkid -s UUID -o value "${loop}p3")
mkdir -p "$mnt"
mount "${loop}p3" "$mnt"
say "copying the base root onto the image's root filesystem"
cp -a "$base/." "$mnt/"
rm -f "$mnt/.ignition-go-base"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
mount --bind /dev "$mnt/dev"
mount --bind /dev/pts "$mnt/dev/pts"
# the links udev would make, for update-grub (root=UUID=...) in the chroot
# only: a tmpfs over the chroot's view of /dev/disk, the host's untouched
mkdir -p "$mnt/dev/disk"
mount -t tmpfs -o size=1M,mode=0755 tmpfs "$mnt/dev/disk"
mkdir "$mnt/dev/disk/by-uuid"
ln -s "${loop}p3" "$mnt/dev/disk/by-uuid/$uuid"

# --- the package and the machine's settings ----------------------------------
say "installing $(basename "$DEB")"
cp "$DEB" "$mnt/tmp/ignition-go.deb"
chroot "$mnt" dpkg -i /tmp/ignition-go.deb > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; exit 1; }
rm -f "$mnt/tmp/ignition-go.deb"
echo "$HOST" > "$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$HOST" > "$mnt/etc/hosts"
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > "$mnt/etc/fstab"
# every machine made from the image gets its own identity and host keys
echo uninitialized > "$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id" "$mnt"/etc/ssh/ssh_host_*
install -m 0644 image/ssh-hostkeys.service "$mnt/etc/systemd/system/ssh-hostkeys.service"
chroot "$mnt" systemctl enable ssh-hostkeys.service >/dev/null 2>&1
# one sshd, the service (not socket-activated instances)
chroot "$mnt" systemctl disable ssh.socket >/dev/null 2>&1 || :
# the real root's network: DHCP on every Ethernet link (systemd-networkd)
mkdir -p "$mnt/etc/systemd/network"
printf '[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n' > "$mnt/etc/systemd/network/80-dhcp.network"
chroot "$mnt" systemctl enable systemd-networkd.service >/dev/null 2>&1
# the first boot's platform, for the package's GRUB snippet
sed -i "s/^IGNITION_PLATFORM_ID=.*/IGNITION_PLATFORM_ID=\"$PLATFORM\"/" "$mnt/etc/default/ignition-go"
# the serial console (and the screen), a short menu
cat > "$mnt/etc/default/grub" <<GRUB
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
GRUB
# the first-boot stamp: the next boot is a first boot
: > "$mnt/boot/ignition.firstboot"

# --- the initramfs -------------------------------------------------------------
kver=$(ls "$mnt/lib/modules" | sort -V | tail -1)
say "dracut: the initramfs for $kver (with the package's module)"
cat > "$mnt/etc/dracut.conf.d/10-image.conf" <<CONF
# an image boots on machines other than the one that built it
hostonly="no"
compress="gzip -n -6"
omit_dracutmodules+=" plymouth nfs iscsi nbd fcoe fcoe-uefi lvm dmraid multipath network-legacy ifcfg "
CONF
chroot "$mnt" dracut --force --quiet --kver "$kver" "/boot/initrd.img-$kver" > "$work/dracut.log" 2>&1 || { cat "$work/dracut.log"; exit 1; }
chroot "$mnt" lsinitrd --mod "/boot/initrd.img-$kver" > "$work/lsinitrd.txt" 2>&1 || :
grep -qx ignition-go "$work/lsinitrd.txt" || { cat "$work/dracut.log" "$work/lsinitrd.txt"; echo "image: the initramfs lacks the ignition-go module" >&2; exit 1; }
say "the initramfs: $(du -m "$mnt/boot/initrd.img-$kver" | cut -f1) MiB"

# --- GRUB: BIOS and UEFI ------------------------------------------------------
say "GRUB for BIOS (grub-install i386-pc) and the menu (update-grub)"
chroot "$mnt" grub-install --target=i386-pc --boot-directory=/boot --modules="part_gpt ext2" "$loop" > "$work/grub.log" 2>&1 || { cat "$work/grub.log"; exit 1; }
chroot "$mnt" update-grub > "$work/grub.log" 2>&1 || { cat "$work/grub.log"; exit 1; }
grep -q 'ignition_firstboot' "$mnt/boot/grub/grub.cfg" || { echo "image: grub.cfg lacks the first-boot snippet" >&2; exit 1; }
grep -q "root=UUID=$uuid" "$mnt/boot/grub/grub.cfg" || { echo "image: grub.cfg does not name the root by UUID" >&2; exit 1; }
say "GRUB for UEFI (grub-mkimage, EFI/BOOT/BOOTX64.EFI on the ESP)"
mkdir -p "$mnt/boot/grub/x86_64-efi"
cp "$mnt"/usr/lib/grub/x86_64-efi/*.mod "$mnt"/usr/lib/grub/x86_64-efi/*.lst "$mnt/boot/grub/x86_64-efi/"
printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$uuid" > "$mnt/tmp/early.cfg"
chroot "$mnt" grub-mkimage -O x86_64-efi -o /tmp/BOOTX64.EFI -c /tmp/early.cfg -p /boot/grub \
    part_gpt part_msdos ext2 fat search search_fs_uuid normal configfile linux echo test \
    all_video efi_gop serial terminal gzio boot ls cat loadenv
esp=$work/esp.img
mkfs.vfat -C -F 32 -n ESP "$esp" $((63 * 1024)) >/dev/null 2>&1 || mkfs.vfat -C -n ESP "$esp" $((63 * 1024)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT
mcopy -i "$esp" "$mnt/tmp/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
rm -f "$mnt/tmp/BOOTX64.EFI" "$mnt/tmp/early.cfg"
dd if="$esp" of="${loop}p2" bs=1M conv=fsync status=none

# --- done ---------------------------------------------------------------------
rm -f "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/log/*.log
used=$(df -m --output=used "$mnt" | tail -1 | tr -d ' ')
cleanup
trap - EXIT
loop=
mv "$raw.new" "$raw"
say "qcow2"
qemu-img convert -O qcow2 "$raw" "$OUT/$NAME.qcow2.new" && mv "$OUT/$NAME.qcow2.new" "$OUT/$NAME.qcow2"
secs=$(( $(date +%s) - start ))
cat <<DONE
image: built in ${secs} s: $raw ($SIZE disk, ${used} MiB used on its root; $(du -m "$raw" | cut -f1) MiB on the host)
image: and $OUT/$NAME.qcow2 ($(du -m "$OUT/$NAME.qcow2" | cut -f1) MiB)
image: the first boot reads its config from the platform ${PLATFORM:-detected at boot}; in QEMU (fw_cfg):
  BIOS: qemu-system-x86_64 -machine q35 -m 1024 -nographic \\
          -drive file=$OUT/$NAME.qcow2,if=virtio,format=qcow2 \\
          -fw_cfg name=opt/com.coreos/config,file=config.ign \\
          -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=n0
  UEFI: the same with  -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd \\
          -drive if=pflash,format=raw,file=OVMF_VARS.fd  (a copy of /usr/share/OVMF/OVMF_VARS.fd)
  then: ssh -p 2222 <user from the config>@127.0.0.1
DONE

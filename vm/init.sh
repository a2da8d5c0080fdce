#!/bin/busybox sh
# /init of the PKU test VM (see vm/README.md). Runs as PID 1 under busybox.
#  - loads the virtio + 9p modules listed in /modules.list
#  - mounts the host's / read-only (9p tag "hostroot") at /newroot,
#    the run's control dir (tag "pkuvmctl") at /ctl, and the work dir
#    (tag "pkuvmdir") read-write at /newroot/<same path as on the host>
#  - chroots into the host's userland and runs /ctl/run.sh there, with its
#    output on the second serial port (ttyS1), which the host streams
#  - writes the exit status to /ctl/status and powers off
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /ctl /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
	echo "pku-vm init: $*" >/dev/ttyS1
	echo "pku-vm init: $*"
	poweroff -f
	sleep 5
}

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" || echo "pku-vm init: insmod $m failed"
done </modules.list

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,cache=none" pkuvmctl /ctl || fail "cannot mount control share"
mount -t 9p -o "$opts,cache=loose,ro" hostroot /newroot || fail "cannot mount host root"
# shellcheck disable=SC1091
. /ctl/params || fail "no /ctl/params"
# params sets: PKU_VM_DIR (absolute host path of the work dir)

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm 2>/dev/null
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=755 tmpfs $R/run
[ -d $R/var/tmp ] && mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
# DIR may lie under one of the tmpfs just mounted: recreate its path there
mkdir -p "$R$PKU_VM_DIR" 2>/dev/null
mount -t 9p -o "$opts,cache=${PKU_VM_DIR_CACHE:-loose}" pkuvmdir "$R$PKU_VM_DIR" || fail "cannot mount work dir at $PKU_VM_DIR"
mkdir -p $R/run/pku-vm
mount -o bind /ctl $R/run/pku-vm

stty -F /dev/ttyS1 raw -echo 2>/dev/null
cut -d' ' -f1 /proc/uptime >/ctl/boot_seconds

chroot $R /usr/bin/env -i /bin/sh /run/pku-vm/run.sh </dev/null >/dev/ttyS1 2>&1
echo $? >/ctl/status

cut -d' ' -f1 /proc/uptime >/ctl/end_seconds
sync
umount $R/run/pku-vm 2>/dev/null
umount "$R$PKU_VM_DIR" 2>/dev/null
umount /ctl 2>/dev/null
poweroff -f
sleep 5

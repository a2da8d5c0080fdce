#!/usr/bin/env bash
# Run a script inside a QEMU TCG (software-emulated) x86-64 VM whose CPU has
# PKU/OSPKE, so tests of the pkey backend can run on hosts without `pku`.
#
#   scripts/pku-vm.sh [OPTIONS] DIR SCRIPT [ARGS...]
#   scripts/pku-vm.sh [OPTIONS] DIR -- CMD [ARGS...]
#   scripts/pku-vm.sh --self-test
#   scripts/pku-vm.sh --install-only
#
# DIR      directory (binaries, libs, test data) mounted read-write inside the
#          VM at the same absolute path; SCRIPT runs with DIR as its cwd.
# SCRIPT   host path of a shell script; run with /bin/sh unless it starts
#          with "#!" (then executed directly). ARGS are passed to it.
# The whole host / is visible read-only in the VM at the same paths (same
# glibc, same binaries), with fresh tmpfs on /tmp, /run, /var/tmp, /dev/shm.
#
# Options:
#   --timeout SECS   kill the VM after SECS (default 900, env PKU_VM_TIMEOUT)
#   --mem MB         guest memory (default 2048, env PKU_VM_MEM)
#   --smp N          guest CPUs (default 1, env PKU_VM_SMP; >1 is much
#                    slower under TCG for fork/exec-heavy work)
#   --cpu MODEL      QEMU CPU model (default max, env PKU_VM_CPU)
#   --kernel K       guest kernel: backports (Debian's newest, 6.12 on
#                    bookworm; default) or stable (bookworm's 6.1);
#                    env PKU_VM_KERNEL
#   -e NAME=VALUE    set an environment variable for SCRIPT (repeatable);
#                    -e NAME passes the host's value of NAME
#   --console        also print the guest kernel console log afterwards
#   --keep           keep the run's temp dir (printed) for inspection
#
# Prints SCRIPT's output (stdout+stderr, streamed) and exits with its exit
# status. 124 = VM timed out, 125 = VM failed before/while running SCRIPT.
# Kernel, busybox and the initramfs are cached under target/pku-vm/
# (override with PKU_VM_CACHE); qemu-system-x86 is apt-installed if missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VMSRC=$REPO/vm
CACHE=${PKU_VM_CACHE:-$REPO/target/pku-vm}
TIMEOUT=${PKU_VM_TIMEOUT:-900}
MEM=${PKU_VM_MEM:-2048}
SMP=${PKU_VM_SMP:-1}
CPU=${PKU_VM_CPU:-max}
KERNEL=${PKU_VM_KERNEL:-backports}
SHOW_CONSOLE=0
KEEP=0
SELFTEST=0
INSTALL_ONLY=0
ENVS=()

log() { echo "pku-vm: $*" >&2; }
die() { log "$*"; exit 125; }

usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--cpu) CPU=$2; shift 2 ;;
	--kernel) KERNEL=$2; shift 2 ;;
	-e)
		if [[ $2 == *=* ]]; then ENVS+=("$2")
		else ENVS+=("$2=${!2-}"); fi
		shift 2 ;;
	--console) SHOW_CONSOLE=1; shift ;;
	--keep) KEEP=1; shift ;;
	--self-test) SELFTEST=1; shift ;;
	--install-only) INSTALL_ONLY=1; shift ;;
	-h|--help) usage; exit 0 ;;
	--) break ;;
	-*) usage >&2; die "unknown option $1" ;;
	*) break ;;
	esac
done

case $KERNEL in stable|backports) ;; *) die "--kernel must be stable or backports" ;; esac

apt_ready=0
apt_update_once() {
	if [[ $apt_ready == 0 ]]; then
		log "apt-get update"
		apt-get update -qq </dev/null >&2 || die "apt-get update failed"
		apt_ready=1
	fi
}
apt_install() {
	apt_update_once
	log "apt-get install $*"
	mkdir -p "$CACHE"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
		>"$CACHE/apt.log" 2>&1 </dev/null; then
		tail -n 30 "$CACHE/apt.log" >&2
		die "apt-get install $* failed"
	fi
}
# apt-get download PKG into the current directory (retrying after an update)
apt_download() {
	apt-get -q -o APT::Sandbox::User=root download "$@" >/dev/null 2>&1 </dev/null && return 0
	apt_update_once
	apt-get -q -o APT::Sandbox::User=root download "$@" >&2 </dev/null
}

# ---------------------------------------------------------------- install --
# target/pku-vm/
#   busybox                      busybox-static's binary
#   KERNEL/vmlinuz               Debian's stock kernel (what linux-image-amd64
#                                depends on, from bookworm or bookworm-backports)
#   KERNEL/kmods.tar             virtio-pci + 9p modules, modules.list = load order
#   KERNEL/kernel-version
#   KERNEL/initramfs.cpio        busybox + /init (vm/init.sh) + modules
#   KERNEL/stamp                 what the initramfs was built from
#   apt-backports/               private apt lists for bookworm-backports (the
#                                host's apt sources are never changed)

# apt-get/apt-cache with the sources for the chosen kernel flavor
kapt() {
	if [[ $KERNEL == backports ]]; then
		APT_CONFIG=$CACHE/apt-backports/apt.conf "$@"
	else
		"$@"
	fi
}
setup_backports_apt() {
	local d=$CACHE/apt-backports suite
	[[ -f $d/apt.conf ]] && return 0
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	cat >"$d/sources.list" <<EOS
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite-backports main
EOS
	cat >"$d/apt.conf.new" <<EOS
Dir::State::Lists "$d/lists/";
Dir::Cache "$d/cache/";
Dir::Etc::SourceList "$d/sources.list";
Dir::Etc::SourceParts "$d/nonexistent/";
EOS
	log "apt-get update (private lists for $suite-backports)"
	APT_CONFIG=$d/apt.conf.new apt-get update -qq </dev/null >&2 || return 1
	mv "$d/apt.conf.new" "$d/apt.conf"
}

install_busybox() {
	[[ -x $CACHE/busybox ]] && return 0
	local w=$CACHE/build-bb
	rm -rf "$w"; mkdir -p "$w"
	log "downloading busybox-static"
	(cd "$w" && apt_download busybox-static) || die "apt-get download busybox-static failed"
	dpkg-deb -x "$w"/busybox-static_*.deb "$w/x"
	cp "$w/x/bin/busybox" "$CACHE/busybox.new" && mv "$CACHE/busybox.new" "$CACHE/busybox"
	rm -rf "$w"
}

# kernel: downloaded and unpacked, never installed on the host
install_kernel() {
	local kd=$1
	[[ -f $kd/vmlinuz && -f $kd/kmods.tar && -f $kd/kernel-version ]] && return 0
	if [[ $KERNEL == backports ]]; then setup_backports_apt || return 1; fi
	local kpkg
	kpkg=$(kapt apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	if [[ -z $kpkg && $KERNEL == stable ]]; then
		apt_update_once
		kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[[ -n $kpkg ]] || { log "cannot resolve linux-image-amd64 ($KERNEL)"; return 1; }
	local w=$kd/build
	rm -rf "$w"; mkdir -p "$w/deb"
	log "downloading $kpkg ($KERNEL)"
	if [[ $KERNEL == backports ]]; then
		(cd "$w/deb" && kapt apt-get -q -o APT::Sandbox::User=root download "$kpkg" >&2 </dev/null) || return 1
	else
		(cd "$w/deb" && apt_download "$kpkg") || die "apt-get download $kpkg failed"
	fi
	local kx=$w/kx kver moddir
	dpkg-deb -x "$w/deb/$kpkg"_*.deb "$kx"
	kver=$(find "$kx/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n1)
	moddir=$kx/lib/modules/$kver
	"$CACHE/busybox" depmod -b "$kx" "$kver"
	# the modules we need, dependencies first
	local -A seen=()
	local order=()
	resolve() {
		local m=$1 d
		[[ -n ${seen[$m]-} ]] && return 0
		seen[$m]=1
		# shellcheck disable=SC2013  # module paths have no spaces
		for d in $(awk -v m="$m" -F': *' '$1==m {print $2}' "$moddir/modules.dep"); do
			resolve "$d"
		done
		order+=("$m")
	}
	local want m path base
	for want in virtio_pci 9pnet_virtio 9p; do
		path=$(awk -F: -v w="$want" '{n=$1; sub(/.*\//,"",n); sub(/\.ko(\.[a-z]+)?$/,"",n); if (n==w) {print $1; exit}}' "$moddir/modules.dep")
		if [[ -z $path ]]; then
			grep -Eq "/$want\.ko" "$moddir/modules.builtin" && continue   # built in
			die "module $want not found in $kpkg"
		fi
		resolve "$path"
	done
	local kmods=$w/kmods
	mkdir -p "$kmods"
	: >"$kmods/modules.list"
	for m in ${order[@]+"${order[@]}"}; do
		base=${m##*/}
		cp "$moddir/$m" "$kmods/$base"
		case $base in
		*.ko.xz) "$CACHE/busybox" unxz "$kmods/$base"; base=${base%.xz} ;;
		*.ko.gz) "$CACHE/busybox" gunzip "$kmods/$base"; base=${base%.gz} ;;
		*.ko.zst) zstd -q -d --rm "$kmods/$base"; base=${base%.zst} ;;
		esac
		echo "$base" >>"$kmods/modules.list"
	done
	tar -C "$kmods" -cf "$kd/kmods.tar" .
	cp "$kx/boot/vmlinuz-$kver" "$kd/vmlinuz"
	echo "$kpkg $kver" >"$kd/kernel-version"
	rm -rf "$w"
}

install_vm() {
	command -v qemu-system-x86_64 >/dev/null || apt_install qemu-system-x86
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not available"
	local kd=$CACHE/$KERNEL init_sum
	init_sum=$(sha256sum "$VMSRC/init.sh" | cut -c1-16)
	if [[ -f $kd/stamp && -f $kd/vmlinuz && -f $kd/initramfs.cpio ]] &&
		grep -qx "init=$init_sum" "$kd/stamp"; then
		return 0
	fi
	mkdir -p "$kd"
	install_busybox
	if ! install_kernel "$kd"; then
		[[ $KERNEL == backports ]] || die "cannot get a kernel"
		log "backports kernel unavailable; falling back to --kernel stable"
		KERNEL=stable
		install_vm
		return
	fi

	# initramfs: busybox + init + modules (uncompressed: faster under TCG)
	local root=$kd/build-initramfs
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/modules"
	cp "$CACHE/busybox" "$root/bin/busybox"
	cp "$VMSRC/init.sh" "$root/init"
	chmod 755 "$root/init" "$root/bin/busybox"
	tar -C "$root/modules" -xf "$kd/kmods.tar"
	mv "$root/modules/modules.list" "$root/modules.list"
	(cd "$root" && find . | "$CACHE/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$kd/initramfs.cpio.new"
	mv "$kd/initramfs.cpio.new" "$kd/initramfs.cpio"
	printf 'init=%s\nkernel=%s\n' "$init_sum" "$(cat "$kd/kernel-version")" >"$kd/stamp"
	rm -rf "$root"
	log "VM cached in $kd ($(cat "$kd/kernel-version"))"
}

mkdir -p "$CACHE"
if command -v flock >/dev/null; then
	exec 9>"$CACHE/.lock"
	flock 9
	install_vm
	flock -u 9
else
	install_vm
fi
[[ $INSTALL_ONLY == 1 ]] && exit 0

# ------------------------------------------------------------- self-test --
if [[ $SELFTEST == 1 ]]; then
	CC=${CC:-cc}
	if ! command -v "$CC" >/dev/null; then
		apt_install gcc libc6-dev
		CC=gcc
	fi
	ST=$(mktemp -d /tmp/pku-vm-selftest.XXXXXX)
	"$CC" -O2 -Wall -o "$ST/pku-selftest" "$VMSRC/pku-selftest.c" || die "cannot build self-test"
	cat >"$ST/run.sh" <<'EOF'
echo "kernel: $(uname -r)"
echo "cpu flags with pku: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(pku|ospke)$' | tr '\n' ' ')"
./pku-selftest
EOF
	set -- "$ST" "$ST/run.sh"
fi

# ------------------------------------------------------------------- run --
[[ $# -ge 2 ]] || { usage >&2; die "need DIR and SCRIPT (or DIR -- CMD ...)"; }
DIR=$(cd "$1" && pwd -P) || die "no such directory: $1"
shift
[[ $DIR != / ]] || die "DIR must not be /"

RUN=$(mktemp -d /tmp/pku-vm-run.XXXXXX)
# shellcheck disable=SC2317  # called through trap
cleanup() {
	if [[ $KEEP == 1 ]]; then log "kept $RUN"; else rm -rf "$RUN"; fi
	if [[ -n ${ST-} ]]; then rm -rf "$ST"; fi
}
trap cleanup EXIT

q() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

if [[ $1 == -- ]]; then
	shift
	[[ $# -ge 1 ]] || die "no command after --"
	{ printf 'exec'; for a in "$@"; do printf ' %s' "$(q "$a")"; done; echo; } >"$RUN/script"
	set -- "$RUN/script"
	RUNNER="/bin/sh /run/pku-vm/script"
else
	[[ -f $1 ]] || die "no such script: $1"
	cp "$1" "$RUN/script"
	chmod 755 "$RUN/script"
	if [[ $(head -c2 "$RUN/script") == '#!' ]]; then RUNNER=/run/pku-vm/script
	else RUNNER="/bin/sh /run/pku-vm/script"; fi
fi
shift

printf 'PKU_VM_DIR=%s\n' "$(q "$DIR")" >"$RUN/params"
printf 'PKU_VM_DIR_CACHE=%s\n' "${PKU_VM_DIR_CACHE:-loose}" >>"$RUN/params"
{
	# same filesystem as the host, so the host's PATH and HOME mean the same
	echo "export PATH=$(q "${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}")"
	echo "export HOME=$(q "${HOME:-/root}")"
	echo 'export USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp PKU_VM=1'
	for e in ${ENVS[@]+"${ENVS[@]}"}; do
		n=${e%%=*}; v=${e#*=}
		[[ $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad -e name: $n"
		echo "export $n=$(q "$v")"
	done
	echo "cd $(q "$DIR") || exit 125"
	printf 'exec %s' "$RUNNER"
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$RUN/run.sh"

# KVM is never used (-accel tcg): the host CPU has no PKU, so KVM guests can't have it either
T0=$(date +%s.%N)
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
	-nodefaults -no-user-config -display none -no-reboot \
	-machine pc -accel "tcg,thread=${PKU_VM_TCG_THREAD:-multi}" -cpu "$CPU" -smp "$SMP" -m "$MEM" \
	-kernel "$CACHE/$KERNEL/vmlinuz" -initrd "$CACHE/$KERNEL/initramfs.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init transparent_hugepage=madvise ${PKU_VM_APPEND:-}" \
	-serial "file:$RUN/console.log" -serial stdio -monitor none \
	-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap" \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev "local,id=ctl,path=$RUN,security_model=none" \
	-device virtio-9p-pci,fsdev=ctl,mount_tag=pkuvmctl \
	-fsdev "local,id=dir,path=${DIR//,/,,},security_model=none,multidevs=remap" \
	-device virtio-9p-pci,fsdev=dir,mount_tag=pkuvmdir \
	</dev/null
QRC=$?
set -e
T1=$(date +%s.%N)

if [[ $SHOW_CONSOLE == 1 ]]; then
	log "---- guest console ----"
	tr -d '\r' <"$RUN/console.log" >&2 || true
	log "-----------------------"
fi
if [[ -f $RUN/status ]]; then
	rc=$(cat "$RUN/status")
	log "exit $rc; guest booted in $(cat "$RUN/boot_seconds" 2>/dev/null)s (guest clock), wall $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')s"
	exit "$rc"
fi
if [[ $QRC == 124 || $QRC == 137 ]]; then
	log "VM timed out after ${TIMEOUT}s"
	rcx=124
else
	log "VM ended without an exit status (qemu rc=$QRC)"
	rcx=125
fi
log "---- guest console (tail) ----"
tr -d '\r' <"$RUN/console.log" | tail -n 40 >&2 || true
exit $rcx

#!/usr/bin/env bash
# The QEMU test harness: boot a kubeseed image with UEFI firmware and a NoCloud
# seed, capture the serial console, stop the VM cleanly, and read results back
# from the image without mounting it. Sourced by the scenario scripts.
set -u

KS_PASSED=0
KS_FAILED=0
KS_TIMEOUT=${KS_TIMEOUT:-420}

ks_log() { printf 'qemu-test: %s\n' "$*" >&2; }

# A multi-VM scenario's work directory ($work) and the background jobs it
# starts ($pids): on exit the jobs are killed and the directory removed,
# unless KS_KEEP=1 (consoles and disks kept for a look afterwards).
ks_scenario_workdir() { # name
        work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-$1.XXXXXX")
        pids=()
        trap ks_scenario_cleanup EXIT
}
ks_scenario_cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        [ -n "${KS_KEEP:-}" ] && ks_log "kept $work" || rm -rf "$work"
}

ks_check() { # name, then a command that must succeed
        local name=$1
        shift
        if "$@"; then
                KS_PASSED=$((KS_PASSED + 1))
                printf 'ok   - %s\n' "$name"
        else
                KS_FAILED=$((KS_FAILED + 1))
                printf 'FAIL - %s\n' "$name"
        fi
}

ks_summary() {
        printf '%d passed, %d failed\n' "$KS_PASSED" "$KS_FAILED"
        [ "$KS_FAILED" -eq 0 ]
}

# The architecture's QEMU binary, machine, CPU and firmware.
ks_arch_setup() { # arch
        case "$1" in
        amd64 | x86_64)
                KS_QEMU=qemu-system-x86_64
                KS_MACHINE=q35
                KS_FW_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
                KS_FW_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
                ;;
        arm64 | aarch64)
                KS_QEMU=qemu-system-aarch64
                KS_MACHINE=virt
                KS_FW_CODE=/usr/share/AAVMF/AAVMF_CODE.fd
                KS_FW_VARS=/usr/share/AAVMF/AAVMF_VARS.fd
                ;;
        *)
                ks_log "unknown architecture '$1'"
                return 1
                ;;
        esac
}

# KVM when /dev/kvm really boots guests, TCG otherwise. Some hosts expose a
# /dev/kvm (a paravirtual nested hypervisor) on which QEMU aborts at once
# ("failed to set MSR 0x10a"): a short probe tells. KUBESEED_ACCEL=kvm|tcg
# overrides the probe.
ks_detect_accel() { # arch
        local host
        host=$(uname -m)
        KS_ACCEL=(-accel tcg,thread=multi)
        KS_CPU=(-cpu max)
        [ "$1" = arm64 ] || [ "$1" = aarch64 ] && KS_CPU=(-cpu cortex-a57)
        case "${KUBESEED_ACCEL:-auto}" in
        tcg) return 0 ;;
        kvm)
                KS_ACCEL=(-accel kvm)
                KS_CPU=(-cpu host)
                return 0
                ;;
        esac
        if [ ! -w /dev/kvm ]; then
                ks_log "accel: TCG (no usable /dev/kvm)"
                return 0
        fi
        if { [ "$host" = x86_64 ] && [ "$1" != amd64 ] && [ "$1" != x86_64 ]; } ||
                { [ "$host" = aarch64 ] && [ "$1" != arm64 ] && [ "$1" != aarch64 ]; }; then
                ks_log "accel: TCG (foreign architecture)"
                return 0
        fi
        local vars
        vars=$(mktemp)
        cp "$KS_FW_VARS" "$vars"
        timeout 8 "$KS_QEMU" -machine "$KS_MACHINE" -accel kvm -cpu host -m 256 -nodefaults \
                -display none -no-reboot -serial null -nic none \
                -drive if=pflash,format=raw,readonly=on,file="$KS_FW_CODE" \
                -drive if=pflash,format=raw,file="$vars" >/dev/null 2>&1
        local rc=$?
        rm -f "$vars"
        if [ "$rc" -eq 124 ]; then
                ks_log "accel: KVM"
                KS_ACCEL=(-accel kvm)
                KS_CPU=(-cpu host)
        else
                ks_log "accel: TCG (/dev/kvm exists but QEMU cannot run a guest on it: exit $rc)"
        fi
}

# A NoCloud seed volume (FAT, label CIDATA) holding every file of a
# directory (meta-data, user-data, network-config).
ks_make_seed() { # dir, output image
        local dir=$1 out=$2
        rm -f "$out"
        truncate -s 4M "$out"
        mformat -i "$out" -v CIDATA :: || return 1
        local f
        for f in "$dir"/*; do
                mcopy -i "$out" "$f" "::/$(basename "$f")" || return 1
        done
}

# Boots a copy of the image. Waits for the agent's final console line (or
# the timeout), then presses the ACPI power button and waits for QEMU to
# exit. Sets KS_BOOT_SECONDS. Extra QEMU arguments after the 4th argument.
# KS_DISK_FORMAT: the disk's format (default raw; qcow2 for an overlay on the
# shared image). KS_HOLD: a file; once the agent finished, the VM keeps
# running until it exists (a control plane the other nodes still need).
# KS_HOLD_LINE: a pattern; once the agent finished, the VM keeps running
# until a console line matches it (a test probe's last line). With either,
# KS_HOLD_SECONDS is QEMU start to the end of the hold.
ks_boot() { # disk (a writable copy), seed image (or ""), workdir, name, [qemu args...]
        local disk=$1 seed=$2 work=$3 name=$4
        shift 4
        local log="$work/$name.console.log" mon="$work/$name.mon"
        rm -f "$log" "$mon.in" "$mon.out"
        mkfifo "$mon.in" "$mon.out"
        cp "$KS_FW_VARS" "$work/$name.vars.fd"
        local seed_args=()
        [ -n "$seed" ] && seed_args=(-drive "file=$seed,format=raw,if=virtio,readonly=on")
        local start=$SECONDS
        "$KS_QEMU" -machine "$KS_MACHINE" "${KS_ACCEL[@]}" "${KS_CPU[@]}" -smp 2 -m "${KS_MEM:-2048}" \
                -nodefaults -display none -no-reboot \
                -drive if=pflash,format=raw,readonly=on,file="$KS_FW_CODE" \
                -drive if=pflash,format=raw,file="$work/$name.vars.fd" \
                -drive "file=$disk,format=${KS_DISK_FORMAT:-raw},if=virtio" "${seed_args[@]}" \
                -serial "file:$log" -monitor "pipe:$mon" "$@" \
                >"$work/$name.qemu.log" 2>&1 &
        local qpid=$!
        exec {monfd}<>"$mon.in"
        cat "$mon.out" >"$work/$name.monitor.log" &
        local catpid=$!
        local deadline=$((SECONDS + KS_TIMEOUT)) finished=0
        while kill -0 "$qpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
                if grep -aq 'kubeseed-firstboot: finished' "$log" 2>/dev/null; then
                        finished=1
                        break
                fi
                sleep 2
        done
        KS_BOOT_SECONDS=$((SECONDS - start))
        # Held: KS_HOLD not there yet, or KS_HOLD_LINE not on the console yet.
        held() {
                { [ -n "${KS_HOLD:-}" ] && [ ! -e "$KS_HOLD" ]; } ||
                        { [ -n "${KS_HOLD_LINE:-}" ] && ! grep -aq "$KS_HOLD_LINE" "$log" 2>/dev/null; }
        }
        if [ $finished -eq 1 ] && [ -n "${KS_HOLD:-}${KS_HOLD_LINE:-}" ]; then
                ks_log "$name: agent finished after ${KS_BOOT_SECONDS}s; running until" \
                        "${KS_HOLD:+$KS_HOLD exists}${KS_HOLD_LINE:+'$KS_HOLD_LINE' appears}"
                while held && kill -0 "$qpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
                        sleep 2
                done
                KS_HOLD_SECONDS=$((SECONDS - start))
        fi
        if [ $finished -eq 1 ]; then
                ks_log "$name: agent finished after ${KS_BOOT_SECONDS}s; powering off"
                echo system_powerdown >&"$monfd"
                deadline=$((SECONDS + 120))
        else
                ks_log "$name: no 'kubeseed-firstboot: finished' line after ${KS_BOOT_SECONDS}s"
                deadline=$SECONDS
        fi
        while kill -0 "$qpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
                sleep 1
        done
        if kill -0 "$qpid" 2>/dev/null; then
                ks_log "$name: QEMU still running; killing it"
                echo quit >&"$monfd"
                sleep 2
                kill "$qpid" 2>/dev/null
        fi
        wait "$qpid" 2>/dev/null
        KS_QEMU_STATUS=$?
        exec {monfd}>&-
        kill "$catpid" 2>/dev/null
        wait "$catpid" 2>/dev/null
        rm -f "$mon.in" "$mon.out"
        return 0
}

# Byte offset of partition N of a disk image (from its GPT, via sfdisk).
ks_part_offset() { # image, partition number
        sfdisk --dump "$1" 2>/dev/null | awk -v n="$2" '
                / : start=/ { i++; if (i == n) { sub(/.*start= */, ""); sub(/,.*/, ""); print $0 * 512; exit } }'
}

# A file from the image's root filesystem, read with debugfs (no mount).
ks_read_file() { # image, path
        local off
        off=$(ks_part_offset "$1" 2) || return 1
        debugfs -R "cat $2" "$1?offset=$off" 2>/dev/null
}

# Writes a host file into the image's root filesystem with debugfs (no
# mount): the parent directories are created, an existing file replaced.
ks_write_file() { # image, host file, path in the image, [mode]
        local img=$1 src=$2 dst=$3 mode=${4:-0644} off dir="" part
        off=$(ks_part_offset "$img" 2) || return 1
        local cmds=()
        IFS=/ read -r -a parts <<<"${dst#/}"
        for part in "${parts[@]:0:${#parts[@]}-1}"; do
                dir="$dir/$part"
                cmds+=("mkdir $dir")
        done
        cmds+=("rm $dst" "write $src $dst" "sif $dst mode 0100$(printf '%o' $((8#$mode)))" "sif $dst uid 0" "sif $dst gid 0")
        printf '%s\n' "${cmds[@]}" | debugfs -w -f - "$img?offset=$off" >/dev/null 2>&1
        [ "$(ks_read_file "$img" "$dst" | cksum)" = "$(cksum <"$src")" ]
}

ks_remove_file() { # image, path in the image
        local off
        off=$(ks_part_offset "$1" 2) || return 1
        debugfs -w -R "rm $2" "$1?offset=$off" >/dev/null 2>&1
}

# Mode (octal permission bits) of a file in the image.
ks_file_mode() { # image, path
        local off
        off=$(ks_part_offset "$1" 2) || return 1
        debugfs -R "stat $2" "$1?offset=$off" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p' | head -n 1
}

# Kills QEMU like a power cut once a console line matches (or the timeout).
ks_boot_until_then_cut() { # disk, seed, workdir, name, pattern, [qemu args...]
        local disk=$1 seed=$2 work=$3 name=$4 pattern=$5
        shift 5
        local log="$work/$name.console.log"
        cp "$KS_FW_VARS" "$work/$name.vars.fd"
        rm -f "$log"
        "$KS_QEMU" -machine "$KS_MACHINE" "${KS_ACCEL[@]}" "${KS_CPU[@]}" -smp 2 -m "${KS_MEM:-2048}" \
                -nodefaults -display none -no-reboot \
                -drive if=pflash,format=raw,readonly=on,file="$KS_FW_CODE" \
                -drive if=pflash,format=raw,file="$work/$name.vars.fd" \
                -drive "file=$disk,format=raw,if=virtio" \
                -drive "file=$seed,format=raw,if=virtio,readonly=on" \
                -serial "file:$log" -monitor none "$@" >"$work/$name.qemu.log" 2>&1 &
        local qpid=$! deadline=$((SECONDS + KS_TIMEOUT)) seen=1
        while kill -0 "$qpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
                if grep -aq "$pattern" "$log" 2>/dev/null; then
                        seen=0
                        break
                fi
                sleep 1
        done
        kill -9 "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
        [ $seen -eq 0 ] && ks_log "$name: saw '$pattern'; power cut" || ks_log "$name: never saw '$pattern'"
        return $seen
}

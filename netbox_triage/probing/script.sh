#!/bin/sh
# netbox-triage host probe, output format v1.
#
# Fed on standard input to `sh -s` over one SSH exec. Plain POSIX sh: it runs under bash 3, dash and
# busybox ash, needs no Python, no systemd, no root and no sudo, and never reads the terminal.
#
# Output contract (parsed by netbox_triage/probing/sections.py):
#   @@triage:probe v1@@                                    first line
#   @@triage:begin <section>@@                             then the section's output, then one newline
#   @@triage:end <section> rc=<exit code> ms=<elapsed ms or -1>@@
#   @@triage:absent <section>@@                            the file or command is not on this host
#
# Guarantees:
# - Every section is optional; a missing tool prints an absent marker, never a failed probe.
# - Each section's output is capped at TRI_CAP bytes (head -c, else dd, else a read loop).
# - Each external command that can block (package databases, df, ss/netstat reading /proc/*/fd,
#   java -version) is time-limited (timeout(1) where present, else a sleep/kill watchdog); tools that
#   answer at once from the kernel (ip, lscpu) or only print their version (openssl, haproxy, monit,
#   systemd-detect-virt) run bare, and the transport's own command timeout bounds the whole run.
# - A body line starting with "@@triage" is prefixed with one space (needs sed), so file contents
#   cannot forge markers. Command stderr is discarded: a non-zero rc tells that something failed.
# - Timing: /proc/uptime, read by the shell itself (no process), gives 10 ms precision; without it
#   `date +%s%N` gives 1 ms, or only seconds where %N is unsupported (busybox builds, very old
#   coreutils); without either every ms is -1. The meta section says which clock was used.
# - Light on the host: a rescue probes hosts that are already struggling, so the script forks as
#   little as it can. Kernel-formatted sections whose every line starts with a fixed key (meta,
#   uname, hostname, uptime, loadavg, dmi, virt_hints) are printed by the shell without the
#   escape-and-cap pipeline; small regular files (release files, /proc tables) and version texts are
#   escaped and capped by the shell itself (tri_lines); Java's version comes from its `release` file,
#   not from starting a JVM.
# - All work runs inside tri_main with stdin from /dev/null, so no command can swallow the rest of
#   this script or wait for input; the final `exit` ends the shell even if stdin stays open.
#
# Test hooks: TRIAGE_PATH replaces PATH (simulating a minimal host); TRIAGE_TIMEOUT sets the
# per-command limit in seconds.

LC_ALL=C
LANG=C
export LC_ALL LANG
if [ -n "${TRIAGE_PATH+set}" ]; then
    PATH=$TRIAGE_PATH
else
    for tri_d in /usr/local/sbin /usr/sbin /sbin; do
        case ":$PATH:" in
            *":$tri_d:"*) ;;
            *) PATH="$PATH:$tri_d" ;;
        esac
    done
fi
export PATH

TRI_CAP=65536
TRI_SMALL_LINES=512
TRI_LIMIT=${TRIAGE_TIMEOUT:-20}
TRI_NL='
'
TRI_PKG_RE='^(openssl|libssl|openssh|haproxy|nginx|httpd|apache2|mysql|mariadb|percona|postgresql|redis|java-|openjdk|jdk|jre|jenkins|kernel|linux-image|monit|glibc|libc6|bash|sudo|keepalived|tomcat)'

tri_has() {
    command -v "$1" >/dev/null 2>&1
}

# Clock: tri_now sets tri_t to "1" followed by the last 9 digits of a time in ms, so the
# arithmetic stays below 2^31 on any shell; tri_elapsed handles the wrap. /proc/uptime reads
# "350735.47 1298045.32": seconds with two decimals; without the dot and with a 0 appended, ms.
tri_now() {
    case $tri_clock in
        uptime)
            tri_t=
            read -r tri_t tri_rest </proc/uptime
            case $tri_t in
                *.??) tri_t=000000000000${tri_t%.??}${tri_t#"${tri_t%??}"}0 ;;
                *) tri_t= ;;
            esac
            ;;
        ns) tri_t=$(date +%s%N 2>/dev/null); tri_t=${tri_t%??????} ;;
        s) tri_t=$(date +%s 2>/dev/null); tri_t=${tri_t}000 ;;
        *) tri_t= ;;
    esac
    case $tri_t in
        ????????????*) tri_t=1${tri_t#"${tri_t%?????????}"} ;;
        *) tri_t= ;;
    esac
}

tri_elapsed() {
    if [ -n "$1" ] && [ -n "$2" ]; then
        tri_ms=$(($2 - $1))
        [ "$tri_ms" -lt 0 ] && tri_ms=$((tri_ms + 1000000000))
    else
        tri_ms=-1
    fi
}

# tri_lim SECONDS COMMAND [ARGS]: run one external command with a time limit.
tri_lim() {
    tri_secs=$1
    shift
    case $tri_timeout in
        timeout) timeout -s KILL "$tri_secs" "$@" ;;
        timeout_t) timeout -t "$tri_secs" -s KILL "$@" ;;
        *)
            "$@" &
            tri_cpid=$!
            (
                trap 'kill "$tri_spid" 2>/dev/null; exit 0' TERM
                sleep "$tri_secs" &
                tri_spid=$!
                wait "$tri_spid" && kill -9 "$tri_cpid" 2>/dev/null
            ) >/dev/null 2>&1 </dev/null &
            tri_wpid=$!
            wait "$tri_cpid"
            tri_lrc=$?
            kill "$tri_wpid" 2>/dev/null
            return $tri_lrc
            ;;
    esac
}

# tri_out: escape marker-like lines (when sed is there), then cap.
tri_out() {
    if [ "$tri_esc" = sed ]; then
        sed 's/^@@triage/ @@triage/' | tri_cap
    else
        tri_cap
    fi
}

# tri_line FILE: the first line of a file into tri_v, with the shell alone (no trailing newline needed).
tri_line() {
    tri_v=
    [ -r "$1" ] && { IFS= read -r tri_v || [ -n "$tri_v" ]; } <"$1"
}

tri_cap() {
    case $tri_capper in
        head) head -c "$TRI_CAP" ;;
        dd) dd bs=1 count="$TRI_CAP" 2>/dev/null ;;
        *)
            tri_n=0
            while IFS= read -r tri_l || [ -n "$tri_l" ]; do
                tri_n=$((tri_n + ${#tri_l} + 1))
                [ "$tri_n" -gt "$TRI_CAP" ] && break
                printf '%s\n' "$tri_l"
            done
            ;;
    esac
}

# tri_cat FILE: print a file, with cat or, on a host without it, with the shell alone.
tri_cat() {
    if tri_has cat; then
        cat "$1"
    else
        while IFS= read -r tri_l || [ -n "$tri_l" ]; do
            printf '%s\n' "$tri_l"
        done <"$1"
    fi
}

tri_absent() {
    printf '@@triage:absent %s@@\n' "$1"
}

# tri_say VALUE: print one line of a section the shell writes itself, escaped like tri_out does.
tri_say() {
    case $1 in
        @@triage*) printf ' %s\n' "$1" ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# tri_own NAME FUNCTION: a section the shell prints itself, in this shell: every line is key=value,
# tri_say'd, or kernel-formatted with a fixed key first, so it needs no escape-and-cap pipeline.
tri_own() {
    printf '@@triage:begin %s@@\n' "$1"
    tri_now
    tri_t0=$tri_t
    "$2" </dev/null 2>/dev/null
    tri_rc=$?
    tri_now
    tri_elapsed "$tri_t0" "$tri_t"
    printf '\n@@triage:end %s rc=%s ms=%s@@\n' "$1" "$tri_rc" "$tri_ms"
}

# tri_lines [FILE]: print the regular file FILE, or else tri_o, line by line with tri_say, at most
# TRI_SMALL_LINES lines and about TRI_CAP bytes: small texts without any process.
tri_lines() {
    if [ $# -gt 0 ]; then
        tri_lines_loop <"$1"
    elif [ -n "$tri_o" ]; then
        tri_lines_loop <<TRI_EOF
$tri_o
TRI_EOF
    fi
}

tri_lines_loop() {
    tri_n=0
    tri_b=0
    while IFS= read -r tri_l || [ -n "$tri_l" ]; do
        tri_n=$((tri_n + 1))
        tri_b=$((tri_b + ${#tri_l} + 1))
        if [ "$tri_n" -gt "$TRI_SMALL_LINES" ] || [ "$tri_b" -gt "$TRI_CAP" ]; then
            break
        fi
        tri_say "$tri_l"
    done
}

# tri_small NAME FILE: a small regular file (release files, /proc tables) printed by the shell; any other
# kind of file (a device, a FIFO) through the capped pipeline; absent when it does not exist.
tri_small() {
    if [ -f "$2" ] && [ -r "$2" ]; then
        tri_own_file=$2
        tri_own "$1" tri_small_body
    else
        tri_file "$1" "$2"
    fi
}

tri_small_body() {
    tri_lines "$tri_own_file"
}

# tri_version NAME COMMAND [ARGS]: a tool's short version text (stdout and stderr), captured by the shell
# and printed with tri_lines: one process, where the pipeline would take three.
tri_version() {
    tri_version_cmd=$2
    if tri_has "$tri_version_cmd"; then
        tri_version_name=$1
        shift 2
        tri_version_args="$*"
        tri_own "$tri_version_name" tri_version_body
    else
        tri_absent "$1"
    fi
}

tri_version_body() {
    # shellcheck disable=SC2086 # the arguments are this script's own words
    tri_o=$($tri_version_cmd $tri_version_args 2>&1)
    tri_vrc=$?
    tri_lines
    return $tri_vrc
}

# tri_own_line NAME FILE: a one-line kernel file as its own section, absent when unreadable.
tri_own_line() {
    if [ -r "$2" ]; then
        tri_own_file=$2
        tri_own "$1" tri_own_line_body
    else
        tri_absent "$1"
    fi
}

tri_own_line_body() {
    tri_line "$tri_own_file" && tri_say "$tri_v"
}

# tri_sec NAME COMMAND [ARGS]: one section; the command's stdout is escaped and capped.
tri_sec() {
    tri_name=$1
    shift
    printf '@@triage:begin %s@@\n' "$tri_name"
    tri_now
    tri_t0=$tri_t
    tri_rc=$({ { "$@" 2>/dev/null </dev/null; echo $? >&3; } | tri_out >&4; } 3>&1)
    tri_now
    tri_elapsed "$tri_t0" "$tri_t"
    printf '\n@@triage:end %s rc=%s ms=%s@@\n' "$tri_name" "${tri_rc:-141}" "$tri_ms"
}

# tri_file NAME PATH: a section holding one file, absent when the file does not exist.
tri_file() {
    if [ -e "$2" ]; then
        tri_sec "$1" tri_cat "$2"
    else
        tri_absent "$1"
    fi
}

# tri_cmd NAME COMMAND [ARGS]: a section holding one time-limited command, absent without it.
tri_cmd() {
    if tri_has "$2"; then
        tri_cmd_name=$1
        shift
        tri_sec "$tri_cmd_name" tri_lim "$TRI_LIMIT" "$@"
    else
        tri_absent "$1"
    fi
}

# tri_bare NAME COMMAND [ARGS]: like tri_cmd, for a command that answers at once from the kernel (netlink,
# /proc, /sys): no time limit, one process fewer.
tri_bare() {
    if tri_has "$2"; then
        tri_sec "$@"
    else
        tri_absent "$1"
    fi
}

tri_meta() {
    printf 'clock=%s\n' "$tri_clock"
    printf 'timeout=%s\n' "$tri_timeout"
    printf 'cap=%s %s\n' "$tri_capper" "$TRI_CAP"
    printf 'escape=%s\n' "$tri_esc"
    tri_has id && printf 'uid=%s\n' "$(id -u 2>/dev/null)"
    tri_has date && printf 'date=%s\n' "$(date +%s 2>/dev/null)"
    return 0
}

# The kernel's own files where it has them (no process), uname for what they lack.
tri_uname() {
    if [ -r /proc/sys/kernel/osrelease ]; then
        tri_line /proc/sys/kernel/ostype && printf 'kernel_name=%s\n' "$tri_v"
        tri_line /proc/sys/kernel/osrelease && printf 'release=%s\n' "$tri_v"
        tri_line /proc/sys/kernel/version && printf 'version=%s\n' "$tri_v"
        tri_has uname && printf 'machine=%s\n' "$(uname -m)"
        return 0
    fi
    printf 'kernel_name=%s\n' "$(uname -s)"
    printf 'release=%s\n' "$(uname -r)"
    printf 'version=%s\n' "$(uname -v)"
    printf 'machine=%s\n' "$(uname -m)"
}

tri_hostname() {
    if tri_line /proc/sys/kernel/hostname; then
        :
    elif tri_has hostname; then
        tri_v=$(hostname)
    else
        tri_v=$(uname -n)
    fi
    tri_say "${tri_v%%"$TRI_NL"*}"
}

tri_dmi() {
    for tri_f in sys_vendor product_name product_version board_vendor board_name bios_vendor bios_version \
        chassis_vendor; do
        tri_line "/sys/class/dmi/id/$tri_f" && printf '%s=%s\n' "$tri_f" "$tri_v"
    done
    return 0
}

# Hints that need no tool: Xen, container marker files, OpenVZ, /dev/kvm, PID 1's environment.
tri_virt_hints() {
    [ -d /proc/xen ] && echo 'proc_xen=1'
    tri_line /proc/xen/capabilities && printf 'xen_capabilities=%s\n' "$tri_v"
    tri_line /sys/hypervisor/type && printf 'hypervisor_type=%s\n' "$tri_v"
    [ -e /.dockerenv ] && echo 'dockerenv=1'
    [ -e /run/.containerenv ] && echo 'containerenv=1'
    [ -d /proc/vz ] && [ ! -d /proc/bc ] && echo 'openvz=1'
    [ -e /dev/kvm ] && echo 'dev_kvm=1'
    if [ -r /proc/1/environ ] && tri_has tr && tri_has grep; then
        tr '\000' '\n' </proc/1/environ 2>/dev/null | grep '^container='
    fi
    return 0
}

# The first processor block in full, then only the topology lines of the others, so that a
# 200-CPU host still fits the cap.
tri_cpuinfo() {
    if tri_has awk; then
        awk '/^[ \t]*$/ { print ""; b = 1; next }
             b == 0 { print; next }
             /^(processor|physical id|core id|siblings|cpu cores)[ \t]*:/ { print }' /proc/cpuinfo
    else
        tri_cat /proc/cpuinfo
    fi
}

# One line per real filesystem: ms <TAB> fstype <TAB> mount point as in /proc/mounts <TAB> df -P line.
tri_filesystems() {
    tri_seen=' '
    while read -r tri_dev tri_mnt tri_type tri_rest; do
        case $tri_type in
            proc | sysfs | devtmpfs | tmpfs | devpts | cgroup | cgroup2 | pstore | securityfs | debugfs | \
                tracefs | configfs | fusectl | mqueue | hugetlbfs | autofs | binfmt_misc | rpc_pipefs | nfsd | \
                selinuxfs | bpf | overlay | aufs | squashfs | ramfs | efivarfs | nsfs | rootfs | usbfs | \
                devfs | sockfs | pipefs | xenfs | fuse.lxcfs | fuse.gvfsd-fuse | fuse.portal | shm | none)
                continue
                ;;
        esac
        case $tri_seen in
            *" $tri_mnt "*) continue ;;
        esac
        tri_seen="$tri_seen$tri_mnt "
        tri_path=$(printf '%b' "$tri_mnt")
        tri_now
        tri_f0=$tri_t
        tri_df=$(tri_lim 10 df -P -k "$tri_path" 2>/dev/null)
        tri_now
        tri_elapsed "$tri_f0" "$tri_t"
        case $tri_df in
            *"$TRI_NL"*) tri_df=${tri_df#*"$TRI_NL"} ;;
            *) tri_df= ;;
        esac
        printf '%s\t%s\t%s\t%s\n' "$tri_ms" "$tri_type" "$tri_mnt" "$tri_df"
    done </proc/mounts
}

tri_packages_rpm() {
    if tri_has grep; then
        tri_lim "$TRI_LIMIT" rpm -qa --qf '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n' |
            grep -E "$TRI_PKG_RE"
    else
        tri_lim "$TRI_LIMIT" rpm -qa --qf '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'
    fi
}

tri_packages_dpkg() {
    if tri_has grep; then
        tri_lim "$TRI_LIMIT" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\t${Status}\n' |
            grep -E "$TRI_PKG_RE"
    else
        tri_lim "$TRI_LIMIT" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\t${Status}\n'
    fi
}

tri_packages_apk() {
    if tri_has grep; then
        tri_lim "$TRI_LIMIT" apk info -v | grep -E "$TRI_PKG_RE"
    else
        tri_lim "$TRI_LIMIT" apk info -v
    fi
}

# netstat with process names, else without (busybox builds without -p, old net-tools).
tri_netstat() {
    tri_lim "$TRI_LIMIT" netstat "$1"p || tri_lim "$TRI_LIMIT" netstat "$1"
}

# tri_ss_once: both socket sections from one `ss` run (listening and established together: reading every
# process's file descriptors for -p is the dearest thing ss does), split by the shell on the State column.
# Returns 1 when this ss cannot do it (no State header: an old ss): the caller asks twice, the classic way.
tri_ss_once() {
    tri_ss_out=$(tri_lim "$TRI_LIMIT" ss -tnp state listening state established 2>/dev/null | tri_cap)
    case $tri_ss_out in
        State*) ;;
        *) return 1 ;;
    esac
    tri_ss_state=LISTEN
    tri_own ss_listen tri_ss_body
    tri_ss_state=ESTAB
    tri_own ss_established tri_ss_body
    return 0
}

tri_ss_body() {
    while IFS= read -r tri_l; do
        case $tri_l in
            State*|"$tri_ss_state "*) tri_say "$tri_l" ;;
        esac
    done <<TRI_EOF
$tri_ss_out
TRI_EOF
}

# Several probes print their version on stderr.
tri_stderr_too() {
    tri_lim "$TRI_LIMIT" "$@" 2>&1
}

# tri_java_release: the `release` file of the JDK/JRE behind the java command (JDK 8 and later
# have one), into tri_release; reading it spares the host a whole JVM start.
tri_java_release() {
    tri_j=$(command -v java)
    tri_has readlink && tri_j=$(readlink -f "$tri_j" 2>/dev/null)
    for tri_r in "${tri_j%/bin/java}/release" "${tri_j%/jre/bin/java}/release"; do
        case $tri_r in
            /*/release) [ "$tri_r" != "$tri_j/release" ] && [ -r "$tri_r" ] && tri_release=$tri_r && return 0 ;;
        esac
    done
    return 1
}

tri_main() {
    exec 4>&1
    printf '@@triage:probe v1@@\n'

    tri_clock=none
    tri_t=
    [ -r /proc/uptime ] && { read -r tri_t tri_rest </proc/uptime; } 2>/dev/null
    case $tri_t in
        *[0-9].[0-9][0-9]) tri_clock=uptime ;;
    esac
    if [ "$tri_clock" = none ] && tri_has date; then
        tri_t=$(date +%s%N 2>/dev/null)
        case $tri_t in
            '' | *[!0-9]*) tri_clock=s ;;
            *) tri_clock=ns ;;
        esac
    fi
    tri_timeout=watchdog
    if tri_has timeout; then
        if timeout -s KILL 5 true >/dev/null 2>&1; then
            tri_timeout=timeout
        elif timeout -t 5 -s KILL true >/dev/null 2>&1; then
            tri_timeout=timeout_t
        fi
    fi
    tri_capper=read
    if tri_has head && head -c 1 </dev/null >/dev/null 2>&1; then
        tri_capper=head
    elif tri_has dd; then
        tri_capper=dd
    fi
    tri_esc=none
    tri_has sed && tri_esc=sed

    tri_own meta tri_meta

    if [ -e /etc/os-release ]; then
        tri_small os_release /etc/os-release
    else
        tri_small os_release /usr/lib/os-release
    fi
    tri_small redhat_release /etc/redhat-release
    tri_small suse_release /etc/SuSE-release
    tri_small debian_version /etc/debian_version
    tri_small lsb_release /etc/lsb-release
    tri_small alpine_release /etc/alpine-release
    tri_small issue /etc/issue

    if tri_has uname || [ -r /proc/sys/kernel/osrelease ]; then
        tri_own uname tri_uname
    else
        tri_absent uname
    fi
    if tri_has hostname || [ -r /proc/sys/kernel/hostname ] || tri_has uname; then
        tri_own hostname tri_hostname
    else
        tri_absent hostname
    fi
    tri_own_line uptime /proc/uptime
    tri_own_line loadavg /proc/loadavg

    tri_version virt_detect systemd-detect-virt
    if [ -d /sys/class/dmi/id ]; then
        tri_own dmi tri_dmi
    else
        tri_absent dmi
    fi
    tri_own virt_hints tri_virt_hints
    tri_small cgroup /proc/1/cgroup

    if [ -r /proc/cpuinfo ]; then
        tri_sec cpuinfo tri_cpuinfo
    else
        tri_absent cpuinfo
    fi
    tri_bare lscpu lscpu
    tri_small meminfo /proc/meminfo

    if [ -r /proc/mounts ] && tri_has df; then
        tri_sec filesystems tri_filesystems
    elif tri_has df; then
        tri_sec filesystems tri_lim "$TRI_LIMIT" df -P -k
    else
        tri_absent filesystems
    fi

    if tri_has ip; then
        tri_bare ip_addr ip -o addr show
        tri_bare ip_link ip -o link show
    else
        tri_absent ip_addr
        tri_absent ip_link
        tri_cmd ifconfig ifconfig -a
    fi
    if tri_has ss; then
        if ! tri_ss_once; then
            tri_cmd ss_listen ss -ltnp
            tri_cmd ss_established ss -tnp state established
        fi
    else
        tri_absent ss_listen
        tri_absent ss_established
        if tri_has netstat; then
            tri_sec netstat_listen tri_netstat -ltn
            tri_sec netstat_established tri_netstat -tn
        else
            tri_absent netstat_listen
            tri_absent netstat_established
        fi
    fi

    if tri_has rpm; then
        tri_sec packages_rpm tri_packages_rpm
    else
        tri_absent packages_rpm
    fi
    if tri_has dpkg-query; then
        tri_sec packages_dpkg tri_packages_dpkg
    else
        tri_absent packages_dpkg
    fi
    if tri_has apk; then
        tri_sec packages_apk tri_packages_apk
    else
        tri_absent packages_apk
    fi

    tri_version openssl_version openssl version -a
    tri_version haproxy_version haproxy -vv
    tri_file haproxy_cfg /etc/haproxy/haproxy.cfg
    tri_version monit_version monit -V
    if tri_has java && tri_java_release; then
        tri_small java_version "$tri_release"
    elif tri_has java; then
        tri_sec java_version tri_stderr_too java -version
    else
        tri_absent java_version
    fi
    return 0
}

tri_main </dev/null
exit 0

# services.sh - start and stop the services the integration tests need, each
# on 127.0.0.1 and a free port, inside one private temp directory:
#   memcached, build/tlsrpt-milter, and a private Postfix instance (own
#   config, queue and data directories, smtpd on a free port, delivery to
#   Maildirs under $SVC_TMP/pf/maildirs through the virtual(8) agent).
#
# Usage (POSIX sh; source it, then call svc_init first):
#   . "$TLSRPT_SRCDIR/tests/lib/services.sh"; svc_init
#   port=$(svc_free_port)
#   svc_memcached_start NAME        -> prints the port; NAME.pid/NAME.port in $SVC_TMP
#   svc_milter_start NAME CONF SOCK -> starts tlsrpt-milter -f -c CONF, waits for SOCK
#   svc_postfix_start MILTER...     -> sets PF_DIR PF_PORT PF_MAILDIRS; milters as
#                                      Postfix writes them (inet:127.0.0.1:PORT);
#                                      when PF_MILTERS2 (PF_MILTERS3) is set, a
#                                      second (third) smtpd on PF_PORT2 (PF_PORT3)
#                                      uses that milter instead
#   users (virtual, Maildir): rua@rua.test, person@example.test, other@example.test
#   svc_postfix_launch              start the Postfix configured in $PF_DIR/conf (after
#                                      svc_postfix_config and any changes of one's own)
#   svc_postfix_wait_queue SECS     -> 0 when the queue is empty in time
#   svc_stop NAME...                -> stops memcached/milter NAMEs (in parallel)
#   svc_kill_ms [-2] PID            -> SIGTERM to PID (-2: a second one 20 ms later),
#                                      waits until it is gone (at most 3 s); sets
#                                      SVC_KILL_MS to the milliseconds from the first
#                                      signal (not in $(...): a subshell cannot reap the
#                                      test's child, whose zombie kill -0 still finds)
#   svc_sendmail_fetch              -> 0 when Debian's sendmail-bin and sendmail-cf are
#                                      unpacked in $SM_ROOT (apt-get download once into
#                                      $BUILD/sendmail-cache, dpkg -x: nothing installed,
#                                      the machine's Postfix stays); 1 when they cannot be
#                                      fetched, 2 when they do not unpack
#   svc_sendmail_start SNIPPET SOCK [SOCK2]
#                                   -> a private Sendmail (sendmail -bd -C, own .cf, queue
#                                      and pid file in $SVC_TMP/sm) on 127.0.0.1:$SM_PORT
#                                      with SNIPPET's INPUT_MAIL_FILTER line, its S= set to
#                                      SOCK (Sendmail syntax, inet:PORT@127.0.0.1); with
#                                      SOCK2 a second daemon on $SM_PORT2 uses a copy of the
#                                      line naming SOCK2 instead. Local domains rua.test,
#                                      example.test, reporter.test delivered by a script into
#                                      $SM_MAIL/USER/new/; no SMTP mailer: nothing leaves
#   svc_sendmail_wait_queue SECS    -> 0 when its queue is empty in time
#   svc_sendmail_count USER         -> mails delivered to USER
# svc_cleanup runs from the EXIT/INT/TERM trap: it stops everything that was
# started (by pid file, never by name; the private Sendmail by its process group),
# calls svc_after_stop when the test defines it, removes our entry from the system
# main.cf alternate_config_directories and deletes $SVC_TMP (kept when
# SVC_KEEP=1, for debugging).
# Limits: waits are bounded (SVC_WAIT seconds, default 10); port picks retry 50 times.

SVC_WAIT=${SVC_WAIT:-10}
BUILD=${BUILD:-$(pwd)/build}
TLSRPT_SRCDIR=${TLSRPT_SRCDIR:-$(pwd)}

# Create the private temp directory and install the cleanup trap.
svc_init() {
    SVC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-test.XXXXXX") || exit 1
    chmod 755 "$SVC_TMP"
    SVC_PF_STARTED=
    SVC_SM_STARTED=
    trap 'svc_cleanup' EXIT
    trap 'exit 130' INT TERM HUP
}

# Is a TCP port listening (or bound) on this machine? Reads /proc/net/tcp*.
svc_port_in_use() {
    _hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$_hex" '
        NR > 1 && substr($2, length($2) - 4) == p { found = 1 }
        END { exit found ? 0 : 1 }'
}

# Print a free port in 20000..59999 (random pick, retried).
svc_free_port() {
    _i=0
    while [ $_i -lt 50 ]; do
        _r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        _p=$((20000 + _r % 40000))
        if ! svc_port_in_use "$_p" && ! grep -qx "$_p" "$SVC_TMP/ports" 2>/dev/null; then
            echo "$_p" >>"$SVC_TMP/ports"
            echo "$_p"
            return 0
        fi
        _i=$((_i + 1))
    done
    return 1
}

# Wait until a TCP port on 127.0.0.1 listens; 0 or 1 after SVC_WAIT seconds.
svc_wait_port() {
    _n=0
    while [ $_n -lt $((SVC_WAIT * 10)) ]; do
        if cat /proc/net/tcp 2>/dev/null | awk -v p=":$(printf '%04X' "$1")" '
            NR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }'
        then return 0; fi
        sleep 0.1
        _n=$((_n + 1))
    done
    return 1
}

# Is the process in pid file $1 alive?
svc_alive() {
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# How long PID takes to go after SIGTERM, into SVC_KILL_MS (file comment).
svc_kill_ms() {
    _k2=
    [ "$1" = -2 ] && { _k2=1; shift; }
    _k0=$(date +%s%N)
    kill "$1"
    [ -n "$_k2" ] && { sleep 0.02; kill "$1" 2>/dev/null; }
    _kn=0
    while kill -0 "$1" 2>/dev/null && [ $_kn -lt 300 ]; do sleep 0.01; _kn=$((_kn + 1)); done
    SVC_KILL_MS=$(( ($(date +%s%N) - _k0) / 1000000 ))
}

# Stop services by NAME (pid files $SVC_TMP/NAME.pid): TERM to all, wait for
# all (at most 10 s; the milter itself is gone within a second), then KILL.
svc_stop() {
    _pids=
    for _nm in "$@"; do
        _pf=$SVC_TMP/$_nm.pid
        [ -s "$_pf" ] || continue
        _pid=$(cat "$_pf")
        kill "$_pid" 2>/dev/null && _pids="$_pids $_pid"
        rm -f "$_pf"
    done
    _n=0
    while [ -n "$_pids" ] && [ $_n -lt 100 ]; do
        _left=
        for _pid in $_pids; do kill -0 "$_pid" 2>/dev/null && _left="$_left $_pid"; done
        _pids=$_left
        [ -n "$_pids" ] && sleep 0.1
        _n=$((_n + 1))
    done
    for _pid in $_pids; do kill -9 "$_pid" 2>/dev/null; done
    return 0
}

# Start memcached NAME on a free port; prints the port.
svc_memcached_start() {
    _name=$1
    _port=${2:-$(svc_free_port)}
    memcached -d -l 127.0.0.1 -p "$_port" -U 0 -m 64 -c 256 -u root \
        -P "$SVC_TMP/$_name.pid" >>"$SVC_TMP/$_name.log" 2>&1 || return 1
    echo "$_port" >"$SVC_TMP/$_name.port"
    svc_wait_port "$_port" || return 1
    echo "$_port"
}

# Print one memcached value (empty when the key is missing): svc_mc_get PORT KEY
svc_mc_get() {
    memccat --servers="127.0.0.1:$1" "$2" 2>/dev/null
}

# Empty a memcached: svc_mc_flush PORT
svc_mc_flush() {
    memcflush --servers="127.0.0.1:$1" >/dev/null 2>&1
}

# Write a milter config: svc_milter_conf FILE SOCKET MEMCACHED_SERVERS ["Key value"...]
# (report address rua@rua.test, delimiter +, Action discard, debug logging to
# stderr, which svc_milter_start keeps in NAME.log; later lines override earlier ones).
# "Authentication none": the tests that are not about DKIM send unsigned reports;
# the DKIM tests give "Authentication dkim" and a DkimKeyFile (or DkimNameservers).
svc_milter_conf() {
    _f=$1 _s=$2 _m=$3
    shift 3
    {
        echo "Socket $_s"
        echo "ReportAddress rua@rua.test"
        echo "RecipientDelimiter +"
        echo "Action discard"
        echo "OnStoreError deliver"
        echo "Authentication none"
        echo "MemcachedServers $_m"
        echo "StoreTimeout 3000"
        echo "LogLevel debug"
        echo "LogTarget stderr"
        [ "$(id -u)" = 0 ] && echo "User root"
        for _l in "$@"; do echo "$_l"; done
    } >"$_f"
}

# Start build/tlsrpt-milter NAME with config CONF, wait until SOCK (unix:/path or
# inet:port@host) answers a milter option negotiation (milter-driver -P; without
# the driver: until the socket file exists or the port listens, plus 0.3 s).
# Log in $SVC_TMP/NAME.log.
svc_milter_start() {
    _name=$1 _conf=$2 _sock=$3
    "$BUILD/tlsrpt-milter" -f -c "$_conf" >>"$SVC_TMP/$_name.log" 2>&1 &
    echo $! >"$SVC_TMP/$_name.pid"
    _n=0
    while [ $_n -lt $((SVC_WAIT * 10)) ]; do
        svc_alive "$SVC_TMP/$_name.pid" || return 1
        if [ -x "$BUILD/tests/milter-driver" ]; then
            "$BUILD/tests/milter-driver" -P -t 2 -s "$_sock" 2>/dev/null && return 0
        else
            case $_sock in
                unix:*|local:*) [ -S "${_sock#*:}" ] && sleep 0.3 && return 0 ;;
                inet:*) _p=${_sock#inet:}; _p=${_p%@*}
                        svc_wait_port "$_p" >/dev/null 2>&1 && sleep 0.3 && return 0 ;;
            esac
        fi
        sleep 0.1
        _n=$((_n + 1))
    done
    return 1
}

# Add (or, with -d, remove) a directory in the system main.cf's
# alternate_config_directories, which "postfix -c DIR" requires. Serialized
# with flock (when present) so that parallel test runs keep each other's entry;
# an absent main.cf (Postfix installed with "No configuration") is created empty.
svc_postfix_altconf() {
    [ -f /etc/postfix/main.cf ] || touch /etc/postfix/main.cf
    {
        command -v flock >/dev/null 2>&1 && flock 9
        _rm=
        [ "$1" = -d ] && { _rm=1; shift; }
        _cur=$(postconf -h alternate_config_directories 2>/dev/null)
        _new=$(echo "$_cur" | tr ', ' '\n\n' | grep -v '^$' | grep -vx "$1")
        [ -z "$_rm" ] && _new="$_new
$1"
        _new=$(echo "$_new" | grep -v '^$' | tr '\n' ' ' | sed 's/ $//')
        postconf -e "alternate_config_directories = $_new"
    } 9>>/tmp/.tlsrpt-tests-postfix.lock
}

# Write the private Postfix main.cf/master.cf in $PF_DIR/conf; args: milters.
svc_postfix_config() {
    _c=$PF_DIR/conf
    mkdir -p "$_c" "$PF_DIR/queue" "$PF_DIR/data" "$PF_MAILDIRS"
    chown postfix:postfix "$PF_DIR/data" "$PF_MAILDIRS"
    if [ -f /etc/postfix/master.cf ]; then cp /etc/postfix/master.cf "$_c/master.cf"
    else cp /usr/share/postfix/master.cf.dist "$_c/master.cf" || return 1; fi
    cat >"$_c/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
myhostname = mta.pftest.invalid
mydomain = pftest.invalid
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
relayhost =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject
recipient_delimiter = +
virtual_mailbox_domains = rua.test, example.test
virtual_mailbox_base = $PF_MAILDIRS
virtual_mailbox_maps = texthash:$_c/vmailbox
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
smtpd_milters = $*
non_smtpd_milters =
milter_default_action = accept
milter_protocol = 6
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP pftest
message_size_limit = 20480000
default_process_limit = 20
smtpd_client_connection_rate_limit = 0
in_flow_delay = 0
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
EOF
    {
        echo "rua@rua.test rua/"
        echo "person@example.test person/"
        echo "other@example.test other/"
    } >"$_c/vmailbox"
    sed -i '/^smtp[[:space:]]\{1,\}inet/d' "$_c/master.cf"
    echo "127.0.0.1:$PF_PORT inet n - n - - smtpd" >>"$_c/master.cf"
    if [ -n "$PF_MILTERS2" ]; then
        echo "127.0.0.1:$PF_PORT2 inet n - n - - smtpd -o smtpd_milters=$PF_MILTERS2" >>"$_c/master.cf"
    fi
    if [ -n "$PF_MILTERS3" ]; then
        echo "127.0.0.1:$PF_PORT3 inet n - n - - smtpd -o smtpd_milters=$PF_MILTERS3" >>"$_c/master.cf"
    fi
    postconf -c "$_c" -F '*/*/chroot = n' >/dev/null
}

# Start a private Postfix; arguments are its smtpd_milters (Postfix syntax).
svc_postfix_start() {
    PF_DIR=$SVC_TMP/pf
    PF_MAILDIRS=$PF_DIR/maildirs
    PF_PORT=$(svc_free_port) || return 1
    PF_PORT2=$(svc_free_port) || return 1
    PF_PORT3=$(svc_free_port) || return 1
    svc_postfix_config "$@" || return 1
    svc_postfix_launch
}

# Start the private Postfix configured in $PF_DIR/conf and wait for its smtpd on $PF_PORT.
svc_postfix_launch() {
    svc_postfix_altconf "$PF_DIR/conf" || return 1
    SVC_PF_STARTED=1
    postfix -c "$PF_DIR/conf" check >>"$SVC_TMP/postfix.log" 2>&1 || return 1
    postfix -c "$PF_DIR/conf" start >>"$SVC_TMP/postfix.log" 2>&1 || return 1
    svc_wait_port "$PF_PORT"
}

# Change the private Postfix's milters and reload it; args: milters.
svc_postfix_milters() {
    postconf -c "$PF_DIR/conf" -e "smtpd_milters = $*" &&
        postfix -c "$PF_DIR/conf" reload >>"$SVC_TMP/postfix.log" 2>&1
}

# Wait (at most $1 seconds) until the private Postfix's queue is empty.
svc_postfix_wait_queue() {
    _n=0
    while [ $_n -lt $(($1 * 5)) ]; do
        if [ -z "$(find "$PF_DIR/queue/incoming" "$PF_DIR/queue/active" \
                "$PF_DIR/queue/deferred" "$PF_DIR/queue/maildrop" -type f 2>/dev/null)" ]
        then return 0; fi
        sleep 0.2
        _n=$((_n + 1))
    done
    return 1
}

# Count the mails delivered to a Maildir user: svc_maildir_count USER
svc_maildir_count() {
    find "$PF_MAILDIRS/$1/new" "$PF_MAILDIRS/$1/cur" -type f 2>/dev/null | wc -l
}

# Stop the private Postfix and undo the alternate_config_directories entry.
svc_postfix_stop() {
    [ -n "$SVC_PF_STARTED" ] || return 0
    postfix -c "$PF_DIR/conf" stop >>"$SVC_TMP/postfix.log" 2>&1
    _n=0
    while [ -s "$PF_DIR/queue/pid/master.pid" ] &&
          kill -0 "$(cat "$PF_DIR/queue/pid/master.pid" | tr -d ' ')" 2>/dev/null &&
          [ $_n -lt 50 ]; do
        sleep 0.1
        _n=$((_n + 1))
    done
    svc_postfix_altconf -d "$PF_DIR/conf"
    SVC_PF_STARTED=
}

# Unpack Debian's Sendmail into $SM_ROOT (sets SM_ROOT SM_BIN SM_CF); the packages are
# downloaded once into $BUILD/sendmail-cache, serialized by a lock. Returns 0, 1 (cannot be
# fetched: see $SM_CACHE/fetch.log) or 2 (downloaded but not unpacked).
svc_sendmail_fetch() {
    SM_CACHE=$BUILD/sendmail-cache
    SM_ROOT=$SM_CACHE/root
    SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
    SM_CF=$SM_ROOT/usr/share/sendmail/cf
    mkdir -p "$SM_CACHE" || return 2
    {
        command -v flock >/dev/null 2>&1 && flock 9
        if [ ! -x "$SM_BIN" ] || [ ! -f "$SM_CF/m4/cf.m4" ]; then
            rm -rf "$SM_CACHE/debs" "$SM_ROOT"
            mkdir -p "$SM_CACHE/debs"
            if (cd "$SM_CACHE/debs" &&
                    apt-get download -o APT::Sandbox::User=root sendmail-bin sendmail-cf) \
                    >"$SM_CACHE/fetch.log" 2>&1; then
                for _d in "$SM_CACHE"/debs/*.deb; do
                    dpkg -x "$_d" "$SM_ROOT" >>"$SM_CACHE/fetch.log" 2>&1 || break
                done
            fi
        fi
    } 9>>"$SM_CACHE/.lock"
    [ -x "$SM_BIN" ] && [ -f "$SM_CF/m4/cf.m4" ] && return 0
    ls "$SM_CACHE"/debs/sendmail-bin_*.deb "$SM_CACHE"/debs/sendmail-cf_*.deb >/dev/null 2>&1 && return 2
    return 1
}

# The snippet's INPUT_MAIL_FILTER line with another name and S=: svc__sm_filter SNIPPET NAME SOCK
svc__sm_filter() {
    sed -n "s|^INPUT_MAIL_FILTER(\`tlsrpt-milter', \`S=[^,']*|INPUT_MAIL_FILTER(\`$2', \`S=$3|p" "$1"
}

# Write $SM_DIR/sendmail.mc and the local mailer's script; args: SNIPPET SOCK [SOCK2].
svc__sm_config() {
    cat >"$SM_DIR/deliver" <<EOF
#!/bin/sh
# deliver USER...: Sendmail's local mailer here; the message on stdin into $SM_MAIL/USER/new/.
umask 022
t=\$(mktemp "$SM_MAIL/.in.XXXXXX") || exit 75
cat >"\$t" || { rm -f "\$t"; exit 75; }
for u in "\$@"; do
    case \$u in ''|.*|*/*) rm -f "\$t"; exit 67 ;; esac
    mkdir -p "$SM_MAIL/\$u/new" && cp "\$t" "$SM_MAIL/\$u/new/\$(date +%s%N).\$\$" ||
        { rm -f "\$t"; exit 75; }
done
rm -f "\$t"
EOF
    chmod 755 "$SM_DIR/deliver"
    echo 'mailer-daemon: postmaster' >"$SM_DIR/aliases"
    printf 'hosts files\naliases files\n' >"$SM_DIR/service.switch"
    _f1=$(svc__sm_filter "$1" tlsrpt-milter "$2")
    [ -n "$_f1" ] || { echo "no INPUT_MAIL_FILTER(\`tlsrpt-milter', \`S=... line in $1" >>"$SVC_TMP/sendmail.log"; return 1; }
    _f2= _d2=
    if [ -n "$3" ]; then
        _f2=$(svc__sm_filter "$1" tlsrpt-milter2 "$3")
        _d2="DAEMON_OPTIONS(\`Port=$SM_PORT2, Addr=127.0.0.1, Name=MTA2, InputMailFilters=tlsrpt-milter2')dnl"
    fi
    # No OSTYPE: linux.m4 makes procmail the local mailer and debian.m4 points into
    # /etc/mail. The local mailer keeps root (S), takes users that are not in passwd
    # (-w) and gets no -r sender argument (-r). The paths under /tmp are world-writable
    # above us: MapInUnsafeDirPath lets sendmail -bi build the aliases map there.
    cat >"$SM_DIR/sendmail.mc" <<EOF
divert(-1)
divert(0)dnl
VERSIONID(\`tlsrpt-milter test instance')dnl
define(\`__OSTYPE__', \`')dnl
define(\`confEBINDIR', \`$SM_ROOT/usr/libexec/sendmail')dnl
define(\`confDOMAIN_NAME', \`mta.smtest.invalid')dnl
define(\`QUEUE_DIR', \`$SM_DIR/queue')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
define(\`STATUS_FILE', \`$SM_DIR/sendmail.st')dnl
define(\`ALIAS_FILE', \`$SM_DIR/aliases')dnl
define(\`confFORWARD_PATH', \`')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl
define(\`confDONT_PROBE_INTERFACES', \`true')dnl
define(\`confDONT_BLAME_SENDMAIL', \`MapInUnsafeDirPath')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confDEAD_LETTER_DROP', \`$SM_DIR/dead.letter')dnl
define(\`LOCAL_MAILER_PATH', \`$SM_DIR/deliver')dnl
define(\`LOCAL_MAILER_ARGS', \`deliver \$u')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
LOCAL_DOMAIN(\`rua.test')dnl
LOCAL_DOMAIN(\`example.test')dnl
LOCAL_DOMAIN(\`reporter.test')dnl
DAEMON_OPTIONS(\`Port=$SM_PORT, Addr=127.0.0.1, Name=MTA, InputMailFilters=tlsrpt-milter')dnl
$_d2
$_f1
$_f2
MODIFY_MAILER_FLAGS(\`LOCAL', \`+S')dnl
MODIFY_MAILER_FLAGS(\`LOCAL', \`-rw')dnl
MAILER(\`local')dnl
EOF
}

# Start the private Sendmail: svc_sendmail_start SNIPPET SOCK [SOCK2] (after svc_sendmail_fetch).
# Its host name is set in a UTS namespace of its own: an unqualified one (this machine's)
# makes sendmail sleep a minute at start, before it reads any configuration.
svc_sendmail_start() {
    SM_DIR=$SVC_TMP/sm
    SM_MAIL=$SM_DIR/mail
    SM_PORT=$(svc_free_port) || return 1
    SM_PORT2=$(svc_free_port) || return 1
    mkdir -p "$SM_DIR/queue" "$SM_MAIL" && chmod 700 "$SM_DIR/queue" || return 1
    svc__sm_config "$@" || return 1
    m4 -D_CF_DIR_="$SM_CF/" "$SM_CF/m4/cf.m4" "$SM_DIR/sendmail.mc" >"$SM_DIR/sendmail.cf" \
        2>>"$SVC_TMP/sendmail.log" || return 1
    if grep -q 'ERROR' "$SM_DIR/sendmail.cf"; then
        grep 'ERROR' "$SM_DIR/sendmail.cf" >>"$SVC_TMP/sendmail.log"
        return 1
    fi
    SVC_SM_STARTED=1
    unshare --uts sh -c 'hostname mta.smtest.invalid && "$0" -bi -C "$1" && exec "$0" -bd -q5s -C "$1" -X "$2"' \
        "$SM_BIN" "$SM_DIR/sendmail.cf" "$SM_DIR/traffic.log" >>"$SVC_TMP/sendmail.log" 2>&1 || return 1
    svc_wait_port "$SM_PORT" || return 1
    [ -z "$3" ] || svc_wait_port "$SM_PORT2"
}

# Wait (at most $1 seconds) until the private Sendmail's queue is empty (every mail delivered).
svc_sendmail_wait_queue() {
    _n=0
    while [ $_n -lt $(($1 * 10)) ]; do
        [ -z "$(find "$SM_DIR/queue" -type f 2>/dev/null)" ] && return 0
        sleep 0.1
        _n=$((_n + 1))
    done
    return 1
}

# Count the mails delivered to a user of the private Sendmail: svc_sendmail_count USER
svc_sendmail_count() {
    find "$SM_MAIL/$1/new" -type f 2>/dev/null | wc -l
}

# Stop the private Sendmail: TERM to its process group (the daemon and its children),
# KILL after 5 s.
svc_sendmail_stop() {
    [ -n "$SVC_SM_STARTED" ] || return 0
    SVC_SM_STARTED=
    _sp=$(head -1 "$SM_DIR/sendmail.pid" 2>/dev/null)
    case $_sp in ''|*[!0-9]*) return 0 ;; esac
    kill -TERM -- "-$_sp" 2>/dev/null || kill -TERM "$_sp" 2>/dev/null
    _n=0
    while kill -0 "$_sp" 2>/dev/null && [ $_n -lt 50 ]; do sleep 0.1; _n=$((_n + 1)); done
    kill -KILL -- "-$_sp" 2>/dev/null
    return 0
}

# Stop everything we started and remove the temp directory.
svc_cleanup() {
    _rc=$?
    trap - EXIT
    trap '' PIPE INT TERM HUP   # finish the cleanup even if our reader went away
    [ -n "$SVC_TMP" ] || exit $_rc
    svc_postfix_stop
    svc_sendmail_stop
    _all=
    for _pf in "$SVC_TMP"/*.pid; do
        [ -f "$_pf" ] && _all="$_all $(basename "$_pf" .pid)"
    done
    # shellcheck disable=SC2086
    [ -n "$_all" ] && svc_stop $_all
    # Hook for the test: runs after every service stopped (e.g. to read exit-time logs).
    if command -v svc_after_stop >/dev/null 2>&1; then svc_after_stop; fi
    if [ "${SVC_KEEP:-0}" = 1 ]; then
        echo "# kept $SVC_TMP" >&2
    else
        rm -rf "$SVC_TMP"
    fi
    exit $_rc
}

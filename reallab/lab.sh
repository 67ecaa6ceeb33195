# shellcheck shell=bash
# reallab/lab.sh: the cluster in miniature, as functions. Sourced by reallab/run.
#
# Topology (every address in 198.18.0.0/15, the benchmarking range of RFC 2544, and every
# one of them inside namespaces this script creates):
#
#   client  eth0 198.18.0.2/24 (+ 198.18.0.100..163 as extra sources), gw 198.18.0.1
#     |
#   router  eth0 198.18.0.1/24, eth1 198.18.1.1/24; FRR zebra+bgpd+bfdd, AS 64501; kernel ECMP
#     |
#   switch  br0 (a Linux bridge: the nodes' L2 segment)
#     |  ...
#   node-i  eth0 198.18.1.(10+i)/24; FRR zebra+bgpd+bfdd, AS 64500 (MetalLB's FRR mode);
#           VIPs on lo (as kube-proxy IPVS's kube-ipvs0 holds them, so ping is answered);
#           iptables nat: kube-proxy's chains (statistic random endpoints, real conntrack)
#     |  p1 .. pP (point-to-point veth, node side 198.18.(100+i).1/32)
#   pod-i-j eth0 198.18.(100+i).(10+j)/32; nginx (1 worker), iperf3 -s on pod-1-1
#
# A node crash is its bridge port going down in the switch namespace (the router's own link
# stays up, as behind a real switch) and every process of the node and its pods killed: the
# node says nothing. The router learns of it only by BFD or its hold timer.

RL_BGP_VIP=198.18.1.250
RL_L2_VIP=198.18.1.240
RL_ROUTER_AS=64501
RL_NODE_AS=64500
RL_FRR=/usr/lib/frr

# Every namespace name starts with "$RL_PREFIX-"; RL_PREFIX itself starts with "rlab".
rl_ns() { echo "$RL_PREFIX-$1"; }
rl_x() {
    local n=$1
    shift
    ip netns exec "$RL_PREFIX-$n" "$@"
}
rl_now() { date +%s.%N | cut -c1-17; }
rl_log() { echo "[reallab $(date +%H:%M:%S.%N | cut -c1-12)] $*" >&2; }
rl_node_ip() { echo "198.18.1.$((10 + $1))"; }
rl_pod_ip() { echo "198.18.$((100 + $1)).$((10 + $2))"; }

# faults.csv: time,kind,node,detail (time: epoch seconds, the moment the action returned).
rl_fault() {
    local kind=$1 node=$2 detail=${3:-}
    detail=${detail//,/;}
    local t
    t=$(rl_now)
    echo "$t,$kind,$node,$detail" >>"$RL_OUT/faults.csv"
    rl_log "fault $kind $node $detail"
    rl_counters "$t" "$kind"
}

# node_counters.csv: after every fault, each live node's packet counters: `midstream` are TCP
# segments to the VIP without SYN that found no conntrack entry (ctstate NEW: a connection the
# router moved to this node), `icmp` the echo requests to the VIP (which node carries a ping).
rl_counters() { # time kind
    local i v
    [ -n "${RL_COUNTERS:-}" ] || return 0
    for i in $(seq 1 "$RL_NODES"); do
        v=$(rl_x "n$i" iptables -t raw -S PREROUTING -v 2>/dev/null | awk '
            /-p icmp/ { for (k = 1; k < NF; k++) if ($k == "-c") ic = $(k + 1) }
            END { printf "%s", ic + 0 }')
        m=$(rl_x "n$i" iptables -t mangle -S PREROUTING -v 2>/dev/null | awk '
            /ctstate NEW/ { for (k = 1; k < NF; k++) if ($k == "-c") mc = $(k + 1) }
            END { printf "%s", mc + 0 }')
        echo "$1,$2,node-$i,$m,$v" >>"$RL_OUT/node_counters.csv"
    done
}

rl_sysctl() {
    local n=$1
    shift
    local kv
    for kv in "$@"; do rl_x "$n" sysctl -qw "$kv" >/dev/null; done
}

# --- topology ------------------------------------------------------------------------------

rl_veth() { # name nsA peer nsB
    ip link add name "$1" netns "$(rl_ns "$2")" type veth peer name "$3" netns "$(rl_ns "$4")"
}

rl_setup_topology() {
    local i j
    local all=(r sw c)
    for i in $(seq 1 "$RL_NODES"); do
        all+=("n$i")
        for j in $(seq 1 "$RL_PODS"); do all+=("n${i}p$j"); done
    done
    for n in "${all[@]}"; do
        ip netns add "$(rl_ns "$n")"
        rl_x "$n" ip link set lo up
        rl_sysctl "$n" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
            net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done

    # The switch.
    rl_x sw ip link add br0 type bridge stp_state 0 forward_delay 0
    rl_x sw ip link set br0 up

    # client <-> router
    rl_veth eth0 c eth0 r
    rl_x c ip addr add 198.18.0.2/24 dev eth0
    for i in $(seq 100 163); do rl_x c ip addr add "198.18.0.$i/24" dev eth0; done
    rl_x c ip link set eth0 up
    rl_x c ip route add default via 198.18.0.1
    rl_x r ip addr add 198.18.0.1/24 dev eth0
    rl_x r ip link set eth0 up

    # router <-> switch
    rl_veth eth1 r pr sw
    rl_x sw ip link set pr master br0 up
    rl_x r ip addr add 198.18.1.1/24 dev eth1
    rl_x r ip link set eth1 up
    rl_sysctl r net.ipv4.ip_forward=1 \
        "net.ipv4.fib_multipath_hash_policy=$RL_HASH_POLICY" \
        "net.ipv4.conf.eth1.arp_accept=$RL_ARP_ACCEPT"
    if [ -n "${RL_HASH_SEED:-}" ]; then rl_sysctl r "net.ipv4.fib_multipath_hash_seed=$RL_HASH_SEED"; fi

    for i in $(seq 1 "$RL_NODES"); do rl_setup_node "$i"; done
    rl_setup_kube_proxy_all
}

rl_setup_node() {
    local i=$1 j k
    local n="n$i"
    rl_veth eth0 "$n" "p$i" sw
    rl_x sw ip link set "p$i" master br0 up
    rl_x "$n" ip addr add "$(rl_node_ip "$i")/24" dev eth0
    rl_x "$n" ip link set eth0 up
    rl_x "$n" ip addr add "$RL_BGP_VIP/32" dev lo
    rl_x "$n" ip addr add "$RL_L2_VIP/32" dev lo
    rl_x "$n" ip route add default via 198.18.1.1
    # arp_ignore 1: answer ARP only for addresses on the asking interface, so the VIPs on lo
    # are not announced; the L2 leader alone puts the L2 VIP on eth0 (rl_l2_take).
    rl_sysctl "$n" net.ipv4.ip_forward=1 net.ipv4.conf.eth0.arp_ignore=1 \
        net.ipv4.conf.eth0.arp_announce=2
    for j in $(seq 1 "$RL_PODS"); do
        local p="n${i}p$j" pip
        pip=$(rl_pod_ip "$i" "$j")
        rl_veth "p$j" "$n" eth0 "$p"
        rl_x "$n" ip addr add "198.18.$((100 + i)).1/32" dev "p$j"
        rl_x "$n" ip link set "p$j" up
        rl_x "$n" ip route add "$pip/32" dev "p$j"
        rl_x "$p" ip addr add "$pip/32" dev eth0
        rl_x "$p" ip link set eth0 up
        rl_x "$p" ip route add "198.18.$((100 + i)).1/32" dev eth0
        rl_x "$p" ip route add default via "198.18.$((100 + i)).1"
    done
    # Pod network between nodes (host-gw style): Cluster policy and the iperf3 pod need it.
    for k in $(seq 1 "$RL_NODES"); do
        [ "$k" = "$i" ] && continue
        rl_x "$n" ip route add "198.18.$((100 + k)).0/24" via "$(rl_node_ip "$k")"
    done
}

# --- kube-proxy ------------------------------------------------------------------------------

# The endpoints every node's kube-proxy knows, one "node pod" pair per line. A crashed node's
# pods stay: every trial restores the node well before node-monitor-grace-period (40 s), after
# which the endpoints controller would remove them.
RL_EP_FILE() { echo "$RL_STATE/endpoints"; }

rl_endpoints_all() {
    local i j
    : >"$(RL_EP_FILE)"
    for i in $(seq 1 "$RL_NODES"); do
        for j in $(seq 1 "$RL_PODS"); do echo "$i $j" >>"$(RL_EP_FILE)"; done
    done
}

# kube-proxy (iptables mode, pkg/proxy/iptables/proxier.go) for one LoadBalancer service:
# KUBE-EXT marks for masquerade (Cluster) and jumps to KUBE-SVC, which picks endpoint k of n
# with `-m statistic --mode random --probability 1/(n-k)`; KUBE-SEP DNATs to the pod. With
# Local policy (KUBE-XLB) only local endpoints are used and the source is kept.
rl_kube_proxy_rules() { # node -> iptables-restore input on stdout
    local i=$1 eps=() line node pod
    while read -r node pod; do
        if [ "$RL_POLICY" = Local ] && [ "$node" != "$i" ]; then continue; fi
        eps+=("$(rl_pod_ip "$node" "$pod")")
    done <"$(RL_EP_FILE)"
    echo "*nat"
    echo ":KUBE-SERVICES - [0:0]"
    echo ":KUBE-EXT - [0:0]"
    echo ":KUBE-SVC - [0:0]"
    echo ":KUBE-POSTROUTING - [0:0]"
    echo ":KUBE-IPERF - [0:0]"
    local k=0 n=${#eps[@]}
    for line in "${eps[@]}"; do echo ":KUBE-SEP-$k - [0:0]"; k=$((k + 1)); done
    echo "-A PREROUTING -j KUBE-SERVICES"
    echo "-A OUTPUT -j KUBE-SERVICES"
    echo "-A POSTROUTING -j KUBE-POSTROUTING"
    for vip in "$RL_BGP_VIP" "$RL_L2_VIP"; do
        echo "-A KUBE-SERVICES -d $vip/32 -p tcp -m tcp --dport 80 -j KUBE-EXT"
        echo "-A KUBE-SERVICES -d $vip/32 -p tcp -m tcp --dport 5201 -j KUBE-IPERF"
    done
    if [ "$RL_POLICY" = Cluster ]; then echo "-A KUBE-EXT -j MARK --set-xmark 0x4000/0x4000"; fi
    echo "-A KUBE-EXT -j KUBE-SVC"
    k=0
    for line in "${eps[@]}"; do
        local left=$((n - k))
        if [ "$left" -gt 1 ]; then
            printf -- "-A KUBE-SVC -m statistic --mode random --probability %.11f -j KUBE-SEP-%d\n" \
                "$(echo "1/$left" | bc -l)" "$k"
        else
            echo "-A KUBE-SVC -j KUBE-SEP-$k"
        fi
        echo "-A KUBE-SEP-$k -p tcp -m tcp -j DNAT --to-destination $line:80"
        k=$((k + 1))
    done
    # iperf3: one server pod (pod-1-1), reached from every node (Cluster: masquerade), as a
    # one-replica iperf3 Deployment would be (its control and data connections must meet).
    echo "-A KUBE-IPERF -j MARK --set-xmark 0x4000/0x4000"
    echo "-A KUBE-IPERF -p tcp -j DNAT --to-destination $(rl_pod_ip 1 1):5201"
    echo "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"
    echo "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0"
    echo "-A KUBE-POSTROUTING -j MASQUERADE"
    echo "COMMIT"
    echo "*filter"
    echo ":KUBE-FORWARD - [0:0]"
    echo "-A FORWARD -j KUBE-FORWARD"
    # kube-proxy drops what conntrack calls INVALID (KUBE-FORWARD, proxier.go).
    echo "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"
    echo "COMMIT"
}

rl_kube_proxy_apply() {
    local i=$1
    rl_kube_proxy_rules "$i" >"$RL_STATE/n$i.iptables"
    rl_x "n$i" iptables-restore <"$RL_STATE/n$i.iptables"
}

rl_setup_kube_proxy_all() {
    local i
    rl_endpoints_all
    for i in $(seq 1 "$RL_NODES"); do rl_kube_proxy_apply "$i"; done
}

# --- pods --------------------------------------------------------------------------------------

rl_pod_start() { # node pod
    local i=$1 j=$2 d="$RL_STATE/n${i}p$2"
    mkdir -p "$d/www"
    # The nginx:alpine default page is 615 bytes: serve one of that size.
    head -c 615 /usr/share/nginx/html/index.html >"$d/www/index.html" 2>/dev/null ||
        printf '%615s' "" >"$d/www/index.html"
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon on;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    client_body_temp_path $d/tmp;
    server {
        listen 80 backlog=4096;
        root $d/www;
        location = / { index index.html; }
        # Which pod answered and whom it saw: the ingress node, with Cluster's masquerade.
        location = /id { default_type text/plain; return 200 "pod=\$server_addr peer=\$remote_addr\n"; }
    }
}
EOF
    mkdir -p "$d/tmp"
    # nginx starts inside the pod's cgroup (the shell joins it, then execs ip netns exec,
    # which execs nginx), so its master and every worker it forks are limited. The shell runs
    # outside the namespace: `ip netns exec` mounts a fresh /sys, without /sys/fs/cgroup.
    local cg
    cg=$(rl_pod_cgroup "$i" "$j")
    sh -c "${cg:+echo \$\$ >$cg/cgroup.procs && }exec ip netns exec $(rl_ns "n${i}p$j") nginx -c $d/nginx.conf" 2>>"$d/error.log"
    if [ "$i$j" = 11 ]; then
        rl_x "n${i}p$j" iperf3 -s -D -p 5201 --logfile "$d/iperf3.log" --pidfile "$d/iperf3.pid"
    fi
}

# A pod's CPU limit (resources.limits.cpu) as the kubelet sets it: a CFS quota (cgroup v1 here).
# Prints the cgroup's directory (empty without a limit).
rl_pod_cgroup() {
    local i=$1 j=$2 cg
    [ -n "${RL_POD_CPU:-}" ] || return 0
    [ -d /sys/fs/cgroup/cpu ] || return 0
    cg="/sys/fs/cgroup/cpu/$RL_PREFIX-n${i}p$j"
    mkdir -p "$cg"
    # The kubelet's CFS period is 100 ms (cpu.cfs_period_us); the kernel's minimum quota is 1 ms.
    echo 100000 >"$cg/cpu.cfs_period_us"
    awk -v c="$RL_POD_CPU" 'BEGIN { q = int(c * 100000); if (q < 1000) q = 1000; print q }' >"$cg/cpu.cfs_quota_us"
    echo "$cg"
}

# --- FRR ---------------------------------------------------------------------------------------

# Each FRR instance has its own directory: config files, pid files, zserv socket, vty sockets
# (--vty_socket), bfdd's control socket (--bfdctl). Daemons drop to the package's frr user.
rl_frr_dir() { echo "$RL_STATE/frr-$1"; }

rl_frr_conf_common() { # hostname dir
    cat <<EOF
hostname $1
log file $2/frr.log
log timestamp precision 6
EOF
}

rl_frr_bfd_conf() {
    cat <<EOF
bfd
 profile lab
  transmit-interval $RL_BFD_TX
  receive-interval $RL_BFD_RX
  detect-multiplier $RL_BFD_MULT
 exit
exit
EOF
}

rl_frr_write_router() {
    local d i ip
    d=$(rl_frr_dir r)
    mkdir -p "$d"
    {
        rl_frr_conf_common router "$d"
    } >"$d/zebra.conf"
    {
        rl_frr_conf_common router "$d"
        rl_frr_bfd_conf
    } >"$d/bfdd.conf"
    {
        rl_frr_conf_common router "$d"
        echo "router bgp $RL_ROUTER_AS"
        echo " bgp router-id 198.18.1.1"
        echo " bgp log-neighbor-changes"
        echo " no bgp ebgp-requires-policy"
        echo " bgp bestpath as-path multipath-relax"
        for i in $(seq 1 "$RL_NODES"); do
            ip=$(rl_node_ip "$i")
            echo " neighbor $ip remote-as $RL_NODE_AS"
            echo " neighbor $ip timers $RL_KEEPALIVE $RL_HOLD"
            echo " neighbor $ip timers connect $RL_CONNECT_RETRY"
            if [ "$RL_BFD" = 1 ]; then
                echo " neighbor $ip bfd"
                echo " neighbor $ip bfd profile lab"
            fi
        done
        echo " address-family ipv4 unicast"
        echo "  maximum-paths 64"
        echo " exit-address-family"
        echo "exit"
    } >"$d/bgpd.conf"
}

# The node's config follows MetalLB's FRR template (internal/bgp/frr/templates/frr.tmpl and
# neighborsession.tmpl): no ebgp-requires-policy, no network import-check, no default
# ipv4-unicast, graceful-restart preserve-fw-state, timers, timers connect, bfd profile, and
# the service /32 as a `network` statement.
rl_frr_write_node() {
    local i=$1 d
    d=$(rl_frr_dir "n$i")
    mkdir -p "$d"
    {
        rl_frr_conf_common "node-$i" "$d"
        echo "ip nht resolve-via-default"
    } >"$d/zebra.conf"
    {
        rl_frr_conf_common "node-$i" "$d"
        rl_frr_bfd_conf
    } >"$d/bfdd.conf"
    {
        rl_frr_conf_common "node-$i" "$d"
        cat <<EOF
router bgp $RL_NODE_AS
  no bgp ebgp-requires-policy
  no bgp network import-check
  no bgp default ipv4-unicast
  bgp graceful-restart preserve-fw-state
  bgp router-id $(rl_node_ip "$i")
  neighbor 198.18.1.1 remote-as $RL_ROUTER_AS
  neighbor 198.18.1.1 timers $RL_KEEPALIVE $RL_HOLD
  neighbor 198.18.1.1 timers connect $RL_NODE_CONNECT
EOF
        if [ "$RL_BFD" = 1 ]; then
            echo "  neighbor 198.18.1.1 bfd"
            echo "  neighbor 198.18.1.1 bfd profile lab"
        fi
        cat <<EOF
  address-family ipv4 unicast
    neighbor 198.18.1.1 activate
    network $RL_BGP_VIP/32
  exit-address-family
exit
EOF
    } >"$d/bgpd.conf"
}

rl_frr_daemon() { # ns daemon
    local n=$1 dm=$2 d extra=()
    d=$(rl_frr_dir "$n")
    case $dm in
        zebra) extra=() ;;
        bfdd) extra=(--bfdctl "$d/bfdd.sock") ;;
        bgpd) extra=() ;;
    esac
    chown -R frr:frr "$d"
    rl_x "$n" "$RL_FRR/$dm" -d -f "$d/$dm.conf" -i "$d/$dm.pid" \
        -z "$d/zserv.api" --vty_socket "$d" -P 0 "${extra[@]}" --log "file:$d/$dm.log" \
        >>"$d/start.log" 2>&1
}

rl_frr_start() { # ns
    local n=$1 dm
    for dm in zebra bfdd bgpd; do rl_frr_daemon "$n" "$dm"; done
}

rl_frr_pid() { cat "$(rl_frr_dir "$1")/$2.pid" 2>/dev/null; }

rl_frr_signal() { # ns signal daemon...
    local n=$1 sig=$2 dm pid
    shift 2
    for dm in "$@"; do
        pid=$(rl_frr_pid "$n" "$dm")
        [ -n "$pid" ] && kill "-$sig" "$pid" 2>/dev/null || true
    done
}

rl_vtysh() { # ns command...
    local n=$1 d args=()
    shift
    d=$(rl_frr_dir "$n")
    for c in "$@"; do args+=(-c "$c"); done
    rl_x "$n" timeout 10 vtysh --vty_socket "$d" "${args[@]}"
}

# --- the whole lab -------------------------------------------------------------------------------

rl_start_all() {
    local i j
    rl_frr_write_router
    rl_frr_start r
    for i in $(seq 1 "$RL_NODES"); do
        rl_frr_write_node "$i"
        rl_frr_start "n$i"
        for j in $(seq 1 "$RL_PODS"); do rl_pod_start "$i" "$j"; done
    done
}

# Number of next hops the router's kernel has for the BGP VIP.
rl_router_paths() {
    rl_x r ip -j route show "$RL_BGP_VIP/32" 2>/dev/null | python3 -c '
import json, sys
try:
    rs = json.load(sys.stdin)
except Exception:
    print(0); sys.exit()
n = 0
for r in rs:
    n += len(r.get("nexthops", [])) or (1 if r.get("gateway") or r.get("nhid") else 0)
print(n)' 2>/dev/null
}

# The router's kernel next hops (gateways) for the VIP, resolved through nexthop objects.
rl_router_gateways() {
    rl_x r ip -j route get "$RL_BGP_VIP" >/dev/null 2>&1 || return 0
    python3 - "$RL_PREFIX" "$RL_BGP_VIP" <<'EOF'
import json, subprocess, sys
ns, vip = sys.argv[1] + "-r", sys.argv[2]
def j(*a):
    out = subprocess.run(["ip", "-n", ns, "-j", *a], capture_output=True, text=True).stdout
    return json.loads(out or "[]")
gws = []
for r in j("route", "show", vip + "/32"):
    for nh in r.get("nexthops", []):
        gws.append(nh.get("gateway"))
    if r.get("gateway"):
        gws.append(r["gateway"])
    if "nhid" in r and not r.get("nexthops"):
        for g in j("nexthop", "show", "id", str(r["nhid"])):
            for m in g.get("group", []):
                for n in j("nexthop", "show", "id", str(m["id"])):
                    gws.append(n.get("gateway"))
            if g.get("gateway"):
                gws.append(g["gateway"])
print(" ".join(x for x in gws if x))
EOF
}

# Wait (bounded) until the router has exactly $1 next hops for the BGP VIP.
rl_wait_paths() { # want timeout_s
    local want=$1 limit=$2 k=0 have
    while [ "$k" -lt $((limit * 20)) ]; do
        have=$(rl_router_paths)
        [ "$have" = "$want" ] && return 0
        sleep 0.05
        k=$((k + 1))
    done
    rl_log "timed out waiting for $want paths (have $have)"
    return 1
}

# Wait (bounded) until node $1 is (1) or is not (0) among the router's next hops.
rl_wait_node_path() { # node want(0|1) timeout_s
    local ip k=0 limit=$(($3 * 20))
    ip=$(rl_node_ip "$1")
    while [ "$k" -lt "$limit" ]; do
        case " $(rl_router_gateways) " in
            *" $ip "*) [ "$2" = 1 ] && return 0 ;;
            *) [ "$2" = 0 ] && return 0 ;;
        esac
        sleep 0.05
        k=$((k + 1))
    done
    rl_log "timed out waiting for node-$1 path=$2"
    return 1
}

# --- faults --------------------------------------------------------------------------------------

rl_kill_ns_procs() { # ns : SIGKILL every process in it (all of them started by this lab)
    local pid
    for pid in $(ip netns pids "$(rl_ns "$1")" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
}

# Node crash: its switch port goes down first (nothing it does later reaches anyone), then
# every process of the node and of its pods dies.
rl_crash() {
    local i=$1 j
    rl_x sw ip link set "p$i" down
    rl_fault crash "node-$i" "${2:-}"
    rl_kill_ns_procs "n$i"
    for j in $(seq 1 "$RL_PODS"); do rl_kill_ns_procs "n${i}p$j"; done
}

# The node boots again: empty conntrack, fresh FRR, pods started, port up.
rl_restore() {
    local i=$1 j
    rl_x "n$i" conntrack -F >/dev/null 2>&1 || true
    rl_x "n$i" ip neigh flush all >/dev/null 2>&1 || true
    rm -f "$(rl_frr_dir "n$i")"/*.pid
    rl_l2_release "$i"
    for j in $(seq 1 "$RL_PODS"); do rl_pod_start "$i" "$j"; done
    rl_x sw ip link set "p$i" up
    rl_frr_start "n$i"
    rl_fault restore "node-$i" "${2:-}"
}

rl_bgpd_kill() { rl_frr_signal "n$1" KILL bgpd; rl_fault bgpd_kill "node-$1" "SIGKILL bgpd, host up"; }
rl_bgpd_start() { rm -f "$(rl_frr_dir "n$1")/bgpd.pid"; rl_frr_daemon "n$1" bgpd; rl_fault bgpd_start "node-$1" "bgpd restarted"; }
rl_hang() { # node daemons...
    local i=$1
    shift
    rl_frr_signal "n$i" STOP "$@"
    rl_fault "hang" "node-$i" "SIGSTOP $*"
}
rl_resume() {
    local i=$1
    shift
    rl_frr_signal "n$i" CONT "$@"
    rl_fault resume "node-$i" "SIGCONT $*"
}
# Graceful stop: the node's speaker shuts its session down (NOTIFICATION Cease/Administrative
# Shutdown, RFC 8203), so the router withdraws at once; the node stays up.
rl_graceful_stop() {
    rl_vtysh "n$1" "configure terminal" "router bgp $RL_NODE_AS" "neighbor 198.18.1.1 shutdown" >/dev/null
    rl_fault graceful_stop "node-$1" "neighbor shutdown (Cease)"
}
rl_graceful_start() {
    rl_vtysh "n$1" "configure terminal" "router bgp $RL_NODE_AS" "no neighbor 198.18.1.1 shutdown" >/dev/null
    rl_fault graceful_start "node-$1" "no neighbor shutdown"
}

# BFD on or off on every session, both sides, live.
rl_bfd_set() { # 0|1
    local on=$1 i ip pre=""
    [ "$on" = 1 ] || pre="no "
    for i in $(seq 1 "$RL_NODES"); do
        ip=$(rl_node_ip "$i")
        if [ "$on" = 1 ]; then
            rl_vtysh r "configure terminal" "router bgp $RL_ROUTER_AS" "neighbor $ip bfd" "neighbor $ip bfd profile lab" >/dev/null
            rl_vtysh "n$i" "configure terminal" "router bgp $RL_NODE_AS" "neighbor 198.18.1.1 bfd" "neighbor 198.18.1.1 bfd profile lab" >/dev/null
        else
            rl_vtysh r "configure terminal" "router bgp $RL_ROUTER_AS" "${pre}neighbor $ip bfd" >/dev/null
            rl_vtysh "n$i" "configure terminal" "router bgp $RL_NODE_AS" "${pre}neighbor 198.18.1.1 bfd" >/dev/null
        fi
    done
    RL_BFD=$on
    # FRR 8.4 takes the sessions down when BFD is removed from them (seen in the lab): the
    # caller waits for every path to come back before it measures anything.
    rl_fault "bfd_$([ "$on" = 1 ] && echo on || echo off)" all "${RL_BFD_TX}ms x $RL_BFD_MULT"
}

# --- Layer 2 -------------------------------------------------------------------------------------

# Node $1 becomes the L2 leader: it puts the VIP on eth0 (so its kernel answers ARP for it)
# and sends MetalLB's gratuitous ARPs (request and reply, internal/layer2/arp.go).
rl_l2_take() { # node [detail]
    local i=$1
    rl_x "n$i" ip addr add "$RL_L2_VIP/32" dev eth0 2>/dev/null || true
    rl_x "n$i" python3 "$RL_DIR/garp.py" --dev eth0 --ip "$RL_L2_VIP" --count "${RL_GARP_COUNT:-1}" \
        --faults "$RL_OUT/faults.csv" --node "node-$i" --detail "${2:-}" >/dev/null
}
rl_l2_release() { rl_x "n$1" ip addr del "$RL_L2_VIP/32" dev eth0 2>/dev/null || true; }

# --- cleanup -------------------------------------------------------------------------------------

# Remove everything whose name starts with $1 (namespaces, their processes, cgroups, state).
rl_cleanup_prefix() {
    local pre=$1 n pid cg
    case $pre in rlab*) ;; *)
        echo "refusing prefix '$pre' (lab prefixes start with rlab)" >&2
        return 1
        ;;
    esac
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$pre"); do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
    sleep 0.2
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$pre"); do
        ip netns del "$n" 2>/dev/null || true
    done
    for cg in /sys/fs/cgroup/cpu/"$pre"*; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
    done
    rm -rf /tmp/"$pre"*.state
    return 0
}

#!/bin/bash
# Throwaway single-node Ceph (1 mon, 1 osd, rgw) on loopback; all state under $ROOT. No mgr.
# Copied from the shared test kit; MON_PORT added so that several runs can coexist.
# Env: ROOT (state dir), PORT (rgw, default 7480), MON_PORT (default 3300), STORE (memstore).
set -e
ROOT=${ROOT:-/tmp/clawback-rgw}
STORE=${STORE:-memstore}
PORT=${PORT:-7480}
MON_PORT=${MON_PORT:-3300}
rm -rf "$ROOT"; mkdir -p "$ROOT"/{mon,osd,run,log}
FSID=$(uuidgen)
CONF=$ROOT/ceph.conf
cat > $CONF <<EOC
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv6 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $ROOT/run
log file = $ROOT/log/\$name.log
admin socket = $ROOT/run/\$name.asok
pid file = $ROOT/run/\$name.pid
mon data = $ROOT/mon/\$cluster-\$id
osd data = $ROOT/osd/\$cluster-\$id
keyring = $ROOT/keyring
osd objectstore = $STORE
memstore device bytes = 8589934592
bluestore block size = 21474836480
bluestore block create = true
osd memory target = 1073741824
bluestore cache autotune = false
bluestore cache size = 268435456
debug ms = 0
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw dns name = localhost
rgw thread pool size = 64
ms mon client mode = crc
EOC
ceph-authtool --create-keyring $ROOT/keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid $FSID $ROOT/monmap >/dev/null
mkdir -p $ROOT/mon/ceph-a
ceph-mon -c $CONF --mkfs -i a --monmap $ROOT/monmap --keyring $ROOT/keyring
ceph-mon -c $CONF -i a
OSD_UUID=$(uuidgen)
ceph -c $CONF osd new $OSD_UUID >/dev/null
mkdir -p $ROOT/osd/ceph-0
ceph-osd -c $CONF -i 0 --mkfs --osd-uuid $OSD_UUID 2>>$ROOT/log/mkfs.log
ceph-osd -c $CONF -i 0
radosgw -c $CONF -n client.rgw.a
# wait for rgw
for i in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.1; done
radosgw-admin -c $CONF user create --uid=test --display-name=test --access-key=testkey --secret=testsecret >/dev/null
echo "rgw ready on http://127.0.0.1:$PORT (key testkey / testsecret)"

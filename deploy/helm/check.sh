#!/usr/bin/env bash
# Checks the Helm chart without a cluster (`make check-helm` runs it):
#   - helm lint --strict and helm template of every attestd/ci/*.yaml;
#   - what matters in the rendered manifests, per mode;
#   - the values the chart must refuse;
#   - every `serve` flag the chart renders is one cmd/attestd/serve.go defines;
#   - attestd's own flag and --config parsers accept each rendered pod and
#     find every file it names mounted (TestHelmRendered in cmd/attestd);
#   - the default image is where make image's image is published, and the
#     image make image built renders pinned by its digest;
#   - AttestdAnchorBalanceLow's threshold follows its value.
# HELM is the helm command (default: helm on the PATH), GO the go command,
# IMAGE_REF_FILE the file make image wrote (REPOSITORY:TAG@DIGEST).
set -euo pipefail

HELM=${HELM:-helm}
GO=${GO:-go}
case $HELM in */*) HELM=$(cd "$(dirname "$HELM")" && pwd)/$(basename "$HELM") ;; esac
case ${IMAGE_REF_FILE:-} in ?*) IMAGE_REF_FILE=$(cd "$(dirname "$IMAGE_REF_FILE")" && pwd)/$(basename "$IMAGE_REF_FILE") ;; esac
cd "$(dirname "$0")"
"$HELM" version >/dev/null 2>&1 || { echo "check.sh: cannot run helm ($HELM); set HELM" >&2; exit 2; }
KUBE_VERSION=${KUBE_VERSION:-1.31.0}
chart=attestd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
render() { "$HELM" template t "$chart" --namespace attestd --kube-version "$KUBE_VERSION" "$@"; }

# doc FILE KIND: the rendered documents of that kind.
doc() { awk -v kind="$2" '/^---$/ { if (d ~ "\nkind: " kind "\n") printf "%s", d; d = "\n"; next } { d = d $0 "\n" } END { if (d ~ "\nkind: " kind "\n") printf "%s", d }' "$1"; }
# has/hasnt NAME TEXT REGEX: TEXT matches (does not match) the extended regex.
has() { grep -qE -- "$3" <<<"$2" || fail "$1: nothing matches /$3/"; }
hasnt() { ! grep -qE -- "$3" <<<"$2" || fail "$1: unexpected /$3/: $(grep -E -- "$3" <<<"$2" | head -1)"; }
count() { local n; n=$(grep -cE -- "$3" <<<"$2" || true); [ "$n" = "$4" ] || fail "$1: /$3/ $n times, want $4"; }
# refused WANT ARGS...: rendering with ARGS fails, saying WANT.
refused() {
  local want=$1 out
  shift
  if out=$(render "$@" 2>&1 >/dev/null); then
    fail "rendered with $*, want an error mentioning: $want"
  elif ! grep -qF -- "$want" <<<"$out"; then
    fail "rendering with $* failed without mentioning \"$want\": $out"
  fi
}

# The pod hardening both modes must have.
secure() {
  local name=$1 pod=$2
  for re in 'runAsNonRoot: true' 'runAsUser: [1-9][0-9]*$' 'readOnlyRootFilesystem: true' \
    'allowPrivilegeEscalation: false' '^ +- ALL$' 'type: RuntimeDefault' 'automountServiceAccountToken: false' \
    'path: /healthz' 'path: /readyz' '- --listen=:8080$' '- --log-format=json$' 'containerPort: 8080$' \
    'resources:' 'memory: ' '- --api-keys-file=/etc/attestd/api-keys/'; do
    has "$name" "$pod" "$re"
  done
  hasnt "$name" "$pod" '--dev([^a-z-]|$)'
  hasnt "$name" "$pod" 'subPath:'
  local grace timeout
  grace=$(sed -nE 's/^ *terminationGracePeriodSeconds: ([0-9]+)$/\1/p' <<<"$pod")
  timeout=$(sed -nE 's/^ *- --shutdown-timeout=([0-9]+)s$/\1/p' <<<"$pod")
  if [ -z "$grace" ] || [ -z "$timeout" ] || [ "$grace" -le "$timeout" ]; then
    fail "$name: terminationGracePeriodSeconds ($grace) must exceed --shutdown-timeout (${timeout}s)"
  fi
}

echo "helm: $("$HELM" version --short 2>/dev/null || true), Kubernetes $KUBE_VERSION"
for f in "$chart"/ci/*.yaml; do
  echo "lint + template $f"
  "$HELM" lint --strict --quiet --kube-version "$KUBE_VERSION" "$chart" -f "$f" >/dev/null || fail "helm lint $f"
  render -f "$f" >"$tmp/$(basename "$f" .yaml).yaml" || fail "helm template $f"
done

# Embedded store: one StatefulSet replica with its claim, no PDB.
out=$(cat "$tmp/embedded-values.yaml")
pod=$(doc "$tmp/embedded-values.yaml" StatefulSet)
count embedded "$out" '^kind: StatefulSet$' 1
count embedded "$out" '^kind: (Deployment|PodDisruptionBudget)$' 0
has embedded "$pod" '^  replicas: 1$'
has embedded "$pod" '^  volumeClaimTemplates:$'
has embedded "$pod" 'storage: "?[0-9]+[GMT]i"?$'
has embedded "$pod" 'mountPath: /var/lib/attestd$'
has embedded "$pod" '- --chain-rpc=https://rpc.example.org$'
hasnt embedded "$pod" '--store='
hasnt embedded "$pod" '--receipt-key-file'
has embedded "$pod" '- --chain-key-file=/etc/attestd/chain/anchor.key$'
secure embedded "$pod"
count embedded "$(doc "$tmp/embedded-values.yaml" Service)" '^    - name: http$' 1
has embedded "$(doc "$tmp/embedded-values.yaml" Service)" '^  type: ClusterIP$'
has embedded "$(doc "$tmp/embedded-values.yaml" Service)" '^      port: 8080$'
has embedded "$(doc "$tmp/embedded-values.yaml" ServiceAccount)" '^automountServiceAccountToken: false$'

# Embedded store with an existing claim and the receipt key from a Secret.
render -f "$chart/ci/embedded-values.yaml" --set persistence.existingClaim=attestd-data \
  --set receiptKey.existingSecret=attestd-receipt-key >"$tmp/claim.out"
pod=$(doc "$tmp/claim.out" StatefulSet)
has embedded-claim "$pod" 'claimName: "?attestd-data"?$'
hasnt embedded-claim "$pod" 'volumeClaimTemplates'
has embedded-claim "$pod" '- --receipt-key-file=/etc/attestd/receipt/receipt-key.pem$'
has embedded-claim "$pod" 'secretName: "?attestd-receipt-key"?$'

# Backups (embedded): the flags, the volume at their directory, a second claim
# template, or an existing claim; none by default.
hasnt embedded "$(cat "$tmp/embedded-values.yaml")" 'backup'
render -f "$chart/ci/embedded-values.yaml" --set backup.enabled=true --set backup.every=30m --set backup.keep=7 >"$tmp/backup.out"
pod=$(doc "$tmp/backup.out" StatefulSet)
has backup "$pod" '- --backup-dir=/var/lib/attestd-backups$'
has backup "$pod" '- --backup-every=30m$'
has backup "$pod" '- --backup-keep=7$'
has backup "$pod" 'mountPath: /var/lib/attestd-backups$'
count backup "$pod" '^        name: (data|backups)$' 2
has backup "$pod" 'storage: "?20Gi"?$'
render -f "$chart/ci/embedded-values.yaml" --set backup.enabled=true --set backup.persistence.existingClaim=attestd-backups >"$tmp/backup-claim.out"
pod=$(doc "$tmp/backup-claim.out" StatefulSet)
has backup-claim "$pod" 'claimName: "?attestd-backups"?$'
count backup-claim "$pod" '^        name: backups$' 0
has backup-claim "$pod" 'mountPath: /var/lib/attestd-backups$'

# Redis: a Deployment of 3, the password from a Secret, one receipt key for all.
out=$(cat "$tmp/redis-3-replicas-values.yaml")
pod=$(doc "$tmp/redis-3-replicas-values.yaml" Deployment)
count redis "$out" '^kind: Deployment$' 1
count redis "$out" '^kind: (StatefulSet|PersistentVolumeClaim)$' 0
hasnt redis "$out" 'volumeClaimTemplates|persistentVolumeClaim'
has redis "$pod" '^  replicas: 3$'
has redis "$pod" '- --store=rediss?(\+sentinel|\+cluster)?://'
grep -A4 -- '- name: ATTESTD_REDIS_PASSWORD$' <<<"$pod" | grep -q 'secretKeyRef:' ||
  fail "redis: ATTESTD_REDIS_PASSWORD does not come from a secretKeyRef"
# The URL may hold a provider key: from the environment, never on the command line.
hasnt redis "$pod" '--chain-rpc'
grep -A4 -- '- name: ATTESTD_CHAIN_RPC$' <<<"$pod" | grep -q 'secretKeyRef:' ||
  fail "redis: ATTESTD_CHAIN_RPC (chain.rpcExistingSecret) does not come from a secretKeyRef"
has redis "$pod" '- --receipt-key-file=/etc/attestd/receipt/'
has redis "$pod" 'secretName: "?attestd-receipt-key"?$'
has redis "$pod" 'podAntiAffinity:'
has redis "$pod" 'scheme: HTTPS$'
secure redis "$pod"
has redis "$(doc "$tmp/redis-3-replicas-values.yaml" PodDisruptionBudget)" 'maxUnavailable: 1$'
has redis "$(doc "$tmp/redis-3-replicas-values.yaml" ServiceMonitor)" 'path: /metrics$'
has redis "$(doc "$tmp/redis-3-replicas-values.yaml" NetworkPolicy)" 'port: 8080$'
has redis "$(doc "$tmp/redis-3-replicas-values.yaml" Ingress)" 'host: "attestd.example.org"$'
# The PrometheusRule's spec is files/alerts.yaml, verbatim.
doc "$tmp/redis-3-replicas-values.yaml" PrometheusRule | sed -n '/^spec:$/,$p' | tail -n +2 | sed 's/^  //' >"$tmp/rules.yaml"
diff -u "$chart/files/alerts.yaml" "$tmp/rules.yaml" >/dev/null || fail "redis: the PrometheusRule's spec is not files/alerts.yaml"
# ... but for AttestdAnchorBalanceLow's threshold, from metrics.prometheusRule.anchorBalanceDays.
render -f "$chart/ci/redis-3-replicas-values.yaml" --set metrics.prometheusRule.anchorBalanceDays=14 >"$tmp/days.out"
doc "$tmp/days.out" PrometheusRule | sed -n '/^spec:$/,$p' | tail -n +2 | sed 's/^  //' >"$tmp/rules-14.yaml"
grep -qx '            < 14' "$tmp/rules-14.yaml" || fail "anchorBalanceDays=14: no threshold < 14 in the PrometheusRule"
sed 's/^            < 7$/            < 14/' "$chart/files/alerts.yaml" | diff -u - "$tmp/rules-14.yaml" >/dev/null ||
  fail "anchorBalanceDays=14 changed more of the PrometheusRule than AttestdAnchorBalanceLow's threshold"
# Rendering fails when that threshold line is gone from files/alerts.yaml.
cp -R "$chart" "$tmp/nodays"
sed -i 's/^            < 7$/            < 5/' "$tmp/nodays/files/alerts.yaml"
if out=$("$HELM" template t "$tmp/nodays" --kube-version "$KUBE_VERSION" -f "$chart/ci/redis-3-replicas-values.yaml" 2>&1 >/dev/null); then
  fail "rendered the PrometheusRule without AttestdAnchorBalanceLow's threshold line"
elif ! grep -qF 'the threshold metrics.prometheusRule.anchorBalanceDays sets' <<<"$out"; then
  fail "rendering without the threshold line failed without saying so: $out"
fi

# The image. The chart's default is make image's repository with the chart's
# appVersion as the tag; the image make image built ($IMAGE_REF_FILE:
# REPOSITORY:TAG@DIGEST, make check-helm builds it) renders pinned by its digest.
appversion=$(sed -nE 's/^appVersion: "?([^"]*)"?$/\1/p' "$chart/Chart.yaml")
defrepo=$(sed -nE 's/^  repository: (.*)$/\1/p' "$chart/values.yaml")
has image-default "$(doc "$tmp/embedded-values.yaml" StatefulSet)" "image: \"$defrepo:$appversion\"\$"
[ "$defrepo" = ghcr.io/attestd/attestd ] || fail "image: the chart's default repository is $defrepo, README.md and the Makefile publish ghcr.io/attestd/attestd"
if [ -z "${IMAGE_REF_FILE:-}" ] || [ ! -s "$IMAGE_REF_FILE" ]; then
  fail "IMAGE_REF_FILE (the image make image built: REPOSITORY:TAG@DIGEST) is not set or empty; make check-helm sets it"
else
  ref=$(cat "$IMAGE_REF_FILE")
  name=${ref%@*} digest=${ref#*@}
  repo=${name%:*} tag=${name##*:}
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || fail "image: $IMAGE_REF_FILE holds no digest: $ref"
  [ "$repo" = "$defrepo" ] || fail "image: make image names $repo, the chart's default repository is $defrepo"
  render -f "$chart/ci/embedded-values.yaml" --set image.tag="$tag" --set image.digest="$digest" >"$tmp/image.out"
  has image "$(doc "$tmp/image.out" StatefulSet)" "image: \"$repo@$digest\"\$"
  has image "$(cat "$tmp/image.out")" "app.kubernetes.io/version: \"$tag\"\$"
  echo "image: the chart renders $repo@$digest (tag $tag)"
fi
# The Grafana dashboard: a ConfigMap for the sidecar, only when enabled, whose
# data is files/dashboard.json byte for byte.
hasnt embedded "$(doc "$tmp/embedded-values.yaml" ConfigMap)" 'grafana_dashboard|dashboard\.json'
render -f "$chart/ci/embedded-values.yaml" --set metrics.grafanaDashboard.enabled=true >"$tmp/dashboard.out"
cm=$(doc "$tmp/dashboard.out" ConfigMap)
count dashboard "$cm" '^kind: ConfigMap$' 1
has dashboard "$cm" '^  name: t-attestd-dashboard$'
has dashboard "$cm" '^  namespace: attestd$'
has dashboard "$cm" '^    grafana_dashboard: "1"$'
dashboard_data() { doc "$1" ConfigMap | sed -n '/^  attestd\.json: |$/,$p' | tail -n +2 | sed 's/^    //'; }
dashboard_data "$tmp/dashboard.out" >"$tmp/dashboard.json"
cmp -s "$chart/files/dashboard.json" "$tmp/dashboard.json" || fail "dashboard: the ConfigMap's attestd.json is not files/dashboard.json"
cm=$(doc "$tmp/redis-3-replicas-values.yaml" ConfigMap)
has redis "$cm" '^  namespace: monitoring$'
has redis "$cm" '^    grafana_dashboard: "1"$'
has redis "$cm" '^    grafana_folder: "?attestd"?$'
dashboard_data "$tmp/redis-3-replicas-values.yaml" >"$tmp/dashboard.json"
cmp -s "$chart/files/dashboard.json" "$tmp/dashboard.json" || fail "redis: the ConfigMap's attestd.json is not files/dashboard.json"
# Rendering fails when files/dashboard.json is missing or not JSON.
for broken in missing invalid; do
  cp -R "$chart" "$tmp/$broken"
  if [ "$broken" = missing ]; then rm "$tmp/$broken/files/dashboard.json"; else echo '{"panels": [' >"$tmp/$broken/files/dashboard.json"; fi
  if out=$("$HELM" template t "$tmp/$broken" --namespace attestd --kube-version "$KUBE_VERSION" -f "$chart/ci/embedded-values.yaml" \
    --set metrics.grafanaDashboard.enabled=true 2>&1 >/dev/null); then
    fail "rendered the dashboard with files/dashboard.json $broken"
  elif ! grep -qF 'files/dashboard.json is missing or not a Grafana dashboard' <<<"$out"; then
    fail "rendering with files/dashboard.json $broken failed without saying so: $out"
  fi
done

# Several chains (the chains list): a --config file in a ConfigMap naming the
# files of each chain's Secrets, mounted under /etc/attestd/chains/<id>/; none
# of the single-chain flags; no endpoint or key in the args, the environment
# or the ConfigMap.
out=$(cat "$tmp/two-chains-values.yaml")
pod=$(doc "$tmp/two-chains-values.yaml" StatefulSet)
secure two-chains "$pod"
has two-chains "$pod" '- --config=/etc/attestd/config/config.yaml$'
has two-chains "$pod" '- --chain-poll=1s$'
hasnt two-chains "$pod" '--(chain-rpc|chain-id|chain-key-file|chain-keystore|chain-password-file|confirmations|max-fee|sink)='
hasnt two-chains "$pod" 'ATTESTD_CHAIN_RPC|mountPath: /etc/attestd/chain$|name: chain-key$'
has two-chains "$pod" 'mountPath: /etc/attestd/config$'
has two-chains "$pod" 'mountPath: /etc/attestd/chains$'
has two-chains "$pod" 'checksum/config: [0-9a-f]{64}$'
flat=$(tr -s ' \n' ' ' <<<"$pod")
for source in 'attestd-eth-key anchor.key 1/anchor.key' 'attestd-eth-rpc rpc-url 1/rpc-url' \
  'attestd-polygon polygon.json 137/keystore.json' 'attestd-polygon polygon.pw 137/password' 'attestd-polygon url 137/rpc-url'; do
  read -r secret key path <<<"$source"
  grep -qF -- "- secret: name: \"$secret\" items: - key: \"$key\" path: \"$path\"" <<<"$flat" ||
    fail "two-chains: the chains volume does not project $secret's $key to $path"
done
argsenv=$(sed -n '/^ *args:$/,/^ *ports:$/p' <<<"$pod")
hasnt two-chains "$argsenv" '://|[0-9a-fA-F]{64}'
count two-chains "$out" '^kind: ConfigMap$' 1
cm=$(doc "$tmp/two-chains-values.yaml" ConfigMap)
has two-chains "$cm" '^  name: t-attestd-config$'
hasnt two-chains "$cm" '://|[0-9a-fA-F]{64}'
count two-chains "$cm" '^    - ' 2
count two-chains "$cm" '^    [- ] id: (1|137)$' 2
for line in 'rpc-file: /etc/attestd/chains/1/rpc-url' 'key-file: /etc/attestd/chains/1/anchor.key' 'name: mainnet' \
  'rpc-file: /etc/attestd/chains/137/rpc-url' 'keystore: /etc/attestd/chains/137/keystore.json' \
  'password-file: /etc/attestd/chains/137/password' 'confirmations: 64' 'max-fee: 1500.5' 'from-batch: 1200' \
  'sink: "0x000000000000000000000000000000000000dEaD"'; do
  has two-chains "$cm" "^    [- ] $line\$"
done
# An endpoint without a credential may be written into the file; a changed
# list changes the checksum that restarts the pods.
render -f "$chart/ci/two-chains-values.yaml" --set 'chains[1].rpc=https://polygon-rpc.example/' --set 'chains[1].rpcExistingSecret=' \
  --set 'chains[1].confirmations=65' >"$tmp/two-chains-plain-rpc.out"
cm=$(doc "$tmp/two-chains-plain-rpc.out" ConfigMap)
has two-chains-plain-rpc "$cm" '^    [- ] rpc: https://polygon-rpc.example/$'
hasnt two-chains-plain-rpc "$(cat "$tmp/two-chains-plain-rpc.out")" '137/rpc-url'
sum() { sed -nE 's/^ *checksum\/config: ([0-9a-f]{64})$/\1/p' "$1"; }
[ "$(sum "$tmp/two-chains-values.yaml")" != "$(sum "$tmp/two-chains-plain-rpc.out")" ] ||
  fail "two-chains: the pods' checksum/config does not change with the chains list"

# attestd itself reads each rendered pod: its args with serve's flags, the
# --config file with its parser, the chains as serve builds them, every
# file named mounted (TestHelmRendered); the chains it found must be these.
mkdir "$tmp/pods"
cp "$tmp"/*-values.yaml "$tmp/pods/"
cp "$tmp/two-chains-plain-rpc.out" "$tmp/pods/two-chains-plain-rpc.yaml"
if ! gotest=$(cd ../.. && ATTESTD_HELM_RENDERED="$tmp/pods" "$GO" test ./cmd/attestd -run '^TestHelmRendered$' -count=1 -v 2>&1); then
  fail "attestd refuses a rendered pod (go test -run TestHelmRendered ./cmd/attestd):"$'\n'"$gotest"
fi
for want in \
  'chain 11155111 (single-chain flags) rpc="https://rpc.example.org" key-file=/etc/attestd/chain/anchor.key keystore=' \
  'chain 137 (single-chain flags) rpc="secret attestd-chain-rpc/rpc-url" key-file= keystore=/etc/attestd/chain/keystore.json' \
  'chain 1 name="mainnet" rpc="secret attestd-eth-rpc/rpc-url" key-file=/etc/attestd/chains/1/anchor.key keystore= password="" confirmations=12 max-fee=300000000000 sink=0x0000000000000000000000000000000000000000 from-batch=0' \
  'chain 137 name="polygon" rpc="secret attestd-polygon/url" key-file= keystore=/etc/attestd/chains/137/keystore.json password="secret attestd-polygon/polygon.pw" confirmations=64 max-fee=1500500000000 sink=0x000000000000000000000000000000000000dEaD from-batch=1200' \
  'chain 137 name="polygon" rpc="https://polygon-rpc.example/" key-file= keystore=/etc/attestd/chains/137/keystore.json'; do
  grep -qF -- "$want" <<<"$gotest" || fail "TestHelmRendered did not find: $want"
done

# Every serve flag the chart renders is one attestd defines (read from the
# source, so that the check needs no build of attestd).
defined=$(sed -nE '/^func newServeCmd/,/^}/s/.*[[:space:]]f\.[A-Za-z0-9]+Var\([^,]+, "([a-z-]+)".*/--\1/p' ../../cmd/attestd/serve.go)
if [ "$(wc -l <<<"$defined")" -lt 20 ]; then
  fail "found only $(wc -l <<<"$defined") flag definitions (f.XxxVar(&v, \"name\", …)) in cmd/attestd/serve.go; update check.sh"
fi
for flag in $(cat "$tmp"/*.yaml "$tmp"/*.out | sed -nE 's/^ *- (--[a-z-]+)=.*/\1/p' | sort -u); do
  grep -qxF -- "$flag" <<<"$defined" || fail "the chart renders $flag, which attestd serve does not define"
done

# Values the chart must refuse (the schema's messages are those of the pinned helm).
e=(-f "$chart/ci/embedded-values.yaml")
r=(-f "$chart/ci/redis-3-replicas-values.yaml")
refused 'replicaCount is 2' "${e[@]}" --set replicaCount=2
refused 'chain.rpc is required' "${e[@]}" --set chain.rpc=
refused 'chain.rpc is required' --set chain.anchorKey.existingSecret=k --set apiKeys.existingSecret=a
refused '/chain/rpc' "${e[@]}" --set chain.rpc=rpc.example.org
refused '/store/mode' "${e[@]}" --set store.mode=postgres
refused "'replicas'" "${e[@]}" --set replicas=3
refused 'chain.anchorKey.existingSecret is required' "${e[@]}" --set chain.anchorKey.existingSecret=
refused 'apiKeys.existingSecret is required' "${e[@]}" --set apiKeys.existingSecret=
refused 'needs store.redis.url' "${r[@]}" --set store.redis.url=
refused 'holds a password' "${r[@]}" --set store.redis.url=redis://:secret@redis:6379/0
refused 'receiptKey.existingSecret' "${r[@]}" --set receiptKey.existingSecret=
refused 'extraArgs: --dev' "${e[@]}" --set 'extraArgs[0]=--dev'
refused 'must be larger than shutdownTimeoutSeconds' "${e[@]}" --set terminationGracePeriodSeconds=15
refused 'tls.enabled needs tls.existingSecret' "${e[@]}" --set tls.enabled=true
refused '/metrics/grafanaDashboard/namespace' "${e[@]}" --set metrics.grafanaDashboard.namespace=Monitoring
refused '/metrics/grafanaDashboard/labels' "${e[@]}" --set metrics.grafanaDashboard.labels.a.b=c
refused 'backup.enabled is for store.mode=embedded' "${r[@]}" --set backup.enabled=true
refused '/backup/every' "${e[@]}" --set backup.enabled=true --set backup.every=hourly
refused '/backup/keep' "${e[@]}" --set backup.enabled=true --set backup.keep=0
refused '/metrics/prometheusRule/anchorBalanceDays' "${e[@]}" --set metrics.prometheusRule.anchorBalanceDays=0
c=(-f "$chart/ci/two-chains-values.yaml")
refused 'chains and chain are both set (chain.rpc, chain.id, chain.anchorKey.existingSecret)' "${e[@]}" "${c[@]}"
refused 'chains and chain are both set (chain.rpcExistingSecret)' "${c[@]}" --set chain.rpcExistingSecret=attestd-chain-rpc
refused 'chains[1] (id 1): chain id 1 is given twice' "${c[@]}" --set 'chains[1].id=1'
refused 'chains[1] (id 137): anchorKey.existingSecret is required' "${c[@]}" --set 'chains[1].anchorKey.existingSecret='
printf 'chains:\n  - {id: 5, rpc: "https://rpc.example.org"}\napiKeys: {existingSecret: attestd-api-keys}\n' >"$tmp/no-key.values"
refused 'chains[0] (id 5): anchorKey.existingSecret is required' -f "$tmp/no-key.values"
refused 'chains[0] (id 1): rpc is required' "${c[@]}" --set 'chains[0].rpcExistingSecret='
refused 'chains[0] (id 1): rpc and rpcExistingSecret are both set' "${c[@]}" --set 'chains[0].rpc=https://eth.example'
for url in https://eth.example/v3/KEY 'https://eth.example/?key=KEY' https://user:KEY@eth.example; do
  refused 'chains[0] (id 1): rpc has user info, a query or a path' "${c[@]}" --set "chains[0].rpc=$url" --set 'chains[0].rpcExistingSecret='
done
refused "/chains/2': missing property 'id'" "${c[@]}" --set 'chains[2].name=x'
refused '/chains/0/id' "${c[@]}" --set 'chains[0].id=0'
refused "'colour'" "${c[@]}" --set 'chains[0].colour=red'
refused '/chains/1/anchorKey/type' "${c[@]}" --set 'chains[1].anchorKey.type=pem'
refused '/chains/0/sink' "${c[@]}" --set 'chains[0].sink=0x12'
refused '/chains/0/fromBatch' "${c[@]}" --set 'chains[0].fromBatch=0'

if [ "$failures" -gt 0 ]; then
  echo "check.sh: $failures failure(s)" >&2
  exit 1
fi
echo "check.sh: the chart renders and refuses as it should"

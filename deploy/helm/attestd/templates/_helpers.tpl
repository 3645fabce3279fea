{{/*
The chart's name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "attestd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: <release>-<chart>, or the release
name alone when it already contains the chart's name.
*/}}
{{- define "attestd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "attestd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "attestd.labels" -}}
helm.sh/chart: {{ include "attestd.chart" . }}
{{ include "attestd.selectorLabels" . }}
app.kubernetes.io/version: {{ include "attestd.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the pods (immutable once installed).
*/}}
{{- define "attestd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attestd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "attestd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "attestd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "attestd.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "attestd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "attestd.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
"true" in Redis mode, "" in embedded mode: {{ if include "attestd.redis" . }}.
*/}}
{{- define "attestd.redis" -}}
{{- if eq .Values.store.mode "redis" }}true{{ end }}
{{- end }}

{{- define "attestd.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{- define "attestd.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (int .Values.shutdownTimeoutSeconds) 15 }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
Checks what the schema cannot express; fails the rendering with a message
that says what to change. Included by validate.yaml.
*/}}
{{- define "attestd.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.store.mode (list "embedded" "redis")) }}
{{- fail (printf "store.mode must be embedded or redis, not %q" $v.store.mode) }}
{{- end }}
{{- if and (eq $v.store.mode "embedded") (ne (int $v.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d, but store.mode=embedded keeps attestd's state in bbolt files on one volume, which one process opens: it runs exactly 1 replica. For several replicas set store.mode=redis and store.redis.url." (int $v.replicaCount)) }}
{{- end }}
{{- if include "attestd.redis" . }}
{{- if not $v.store.redis.url }}
{{- fail "store.mode=redis needs store.redis.url (redis://, rediss://, redis+sentinel:// or redis+cluster://)" }}
{{- end }}
{{- if or (regexMatch "^[a-z+]+://[^/@]*:[^/@]+@" $v.store.redis.url) (regexMatch "[?&][a-z_]*password=" $v.store.redis.url) }}
{{- fail "store.redis.url holds a password: remove it and put it in a Secret (store.redis.existingSecret)" }}
{{- end }}
{{- if not $v.receiptKey.existingSecret }}
{{- fail "store.mode=redis needs receiptKey.existingSecret: every replica must sign receipts with the same Ed25519 key (see README.md, Kubernetes (Helm))" }}
{{- end }}
{{- end }}
{{- if and $v.backup.enabled (include "attestd.redis" .) }}
{{- fail "backup.enabled is for store.mode=embedded: back Redis up with its own persistence (docs/redis.md)" }}
{{- end }}
{{- if $v.chains }}
{{- $set := list }}
{{- range $k := list "rpc" "rpcExistingSecret" "id" "sink" }}
{{- if index $v.chain $k }}{{ $set = append $set (printf "chain.%s" $k) }}{{ end }}
{{- end }}
{{- if $v.chain.anchorKey.existingSecret }}{{ $set = append $set "chain.anchorKey.existingSecret" }}{{ end }}
{{- with $set }}
{{- fail (printf "chains and chain are both set (%s): chain is the shorthand for one chain; with chains, give every chain as an entry of the list and leave chain.rpc, chain.rpcExistingSecret, chain.id, chain.sink and chain.anchorKey.existingSecret empty" (join ", " .)) }}
{{- end }}
{{- $ids := dict }}
{{- range $i, $c := $v.chains }}
{{- $at := printf "chains[%d] (id %d)" $i (int64 $c.id) }}
{{- if hasKey $ids (toString (int64 $c.id)) }}
{{- fail (printf "%s: chain id %d is given twice: every entry of chains is a different chain" $at (int64 $c.id)) }}
{{- end }}
{{- $_ := set $ids (toString (int64 $c.id)) true }}
{{- if and $c.rpc $c.rpcExistingSecret }}
{{- fail (printf "%s: rpc and rpcExistingSecret are both set: choose one" $at) }}
{{- else if not (or $c.rpc $c.rpcExistingSecret) }}
{{- fail (printf "%s: rpc is required: the chain's JSON-RPC URL, or rpcExistingSecret (a Secret holding it) when the URL holds a credential" $at) }}
{{- end }}
{{- /* The rpc of an entry is written into a ConfigMap: like serve's warning
       (urlHoldsSecret), user info, a query or a path may be a provider key. */}}
{{- if and $c.rpc (regexMatch "^[a-z]+://([^/?#]*@|[^?#]*[?]|[^/?#]*/[^?#]*[^/?#])" $c.rpc) }}
{{- fail (printf "%s: rpc has user info, a query or a path, where providers put their keys; it would be written into a ConfigMap: put the URL in a Secret and name it in rpcExistingSecret" $at) }}
{{- end }}
{{- if not (and $c.anchorKey $c.anchorKey.existingSecret) }}
{{- fail (printf "%s: anchorKey.existingSecret is required: the Secret holding the chain's anchoring key" $at) }}
{{- end }}
{{- end }}
{{- else }}
{{- if not (or $v.chain.rpc $v.chain.rpcExistingSecret) }}
{{- fail "chain.rpc is required: the anchoring chain's JSON-RPC URL (or chain.rpcExistingSecret when the URL holds a credential), or a chains list for several chains" }}
{{- end }}
{{- if not $v.chain.anchorKey.existingSecret }}
{{- fail "chain.anchorKey.existingSecret is required: the Secret holding the anchoring account's key" }}
{{- end }}
{{- end }}
{{- if not $v.apiKeys.existingSecret }}
{{- fail "apiKeys.existingSecret is required: the Secret holding the API keys file (`attestd keys add INSTITUTION --file api-keys`)" }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and $v.tls.clientCA.existingSecret (not $v.tls.enabled) }}
{{- fail "tls.clientCA needs tls.enabled: client certificates only work over TLS in the pod" }}
{{- end }}
{{- range $v.extraArgs }}
{{- if regexMatch "^--?dev(=|$)" (toString .) }}
{{- fail "extraArgs: --dev (embedded dev chain and dev API key) is for local trials, never for a deployment" }}
{{- end }}
{{- end }}
{{- if le (int (include "attestd.terminationGracePeriodSeconds" .)) (int $v.shutdownTimeoutSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%s) must be larger than shutdownTimeoutSeconds (%d), or Kubernetes kills attestd during its graceful shutdown" (include "attestd.terminationGracePeriodSeconds" .) (int $v.shutdownTimeoutSeconds)) }}
{{- end }}
{{- end }}

{{/*
The `attestd serve` arguments, as a YAML list. Never --dev.
*/}}
{{- define "attestd.args" -}}
{{- $v := .Values }}
{{- $a := list "serve" "--listen=:8080" "--log-format=json" (printf "--log-level=%s" $v.logLevel) "--data-dir=/var/lib/attestd" }}
{{- if include "attestd.redis" . }}
{{- $a = append $a (printf "--store=%s" $v.store.redis.url) }}
{{- $a = append $a (printf "--lease-ttl=%s" $v.store.redis.leaseTTL) }}
{{- end }}
{{- if $v.chains }}
{{- /* Several chains: their settings are the chains: list of the --config
       file (attestd.chainsConfig); the single-chain flags are refused beside it. */}}
{{- $a = append $a "--config=/etc/attestd/config/config.yaml" }}
{{- else }}
{{- /* With rpcExistingSecret, serve reads ATTESTD_CHAIN_RPC itself: a
       --chain-rpc=$(ATTESTD_CHAIN_RPC) argument would be expanded into the
       command line, which ps and /proc/PID/cmdline show. */}}
{{- if not $v.chain.rpcExistingSecret }}
{{- $a = append $a (printf "--chain-rpc=%s" $v.chain.rpc) }}
{{- end }}
{{- if $v.chain.id }}
{{- $a = append $a (printf "--chain-id=%d" (int64 $v.chain.id)) }}
{{- end }}
{{- $a = append $a (printf "--confirmations=%d" (int64 $v.chain.confirmations)) }}
{{- $a = append $a (printf "--max-fee=%v" $v.chain.maxFeeGwei) }}
{{- if $v.chain.sink }}
{{- $a = append $a (printf "--sink=%s" $v.chain.sink) }}
{{- end }}
{{- if eq $v.chain.anchorKey.type "keystore" }}
{{- $a = append $a (printf "--chain-keystore=/etc/attestd/chain/%s" $v.chain.anchorKey.keystoreSecretKey) }}
{{- $a = append $a (printf "--chain-password-file=/etc/attestd/chain/%s" $v.chain.anchorKey.passwordSecretKey) }}
{{- else }}
{{- $a = append $a (printf "--chain-key-file=/etc/attestd/chain/%s" $v.chain.anchorKey.hexSecretKey) }}
{{- end }}
{{- end }}
{{- $a = append $a (printf "--chain-poll=%s" $v.chain.pollInterval) }}
{{- $a = append $a (printf "--batch-interval=%s" $v.batch.interval) }}
{{- $a = append $a (printf "--anchor-within=%s" $v.batch.anchorWithin) }}
{{- $a = append $a (printf "--max-batch-size=%d" (int64 $v.batch.maxSize)) }}
{{- $a = append $a (printf "--api-keys-file=/etc/attestd/api-keys/%s" $v.apiKeys.secretKey) }}
{{- if $v.receiptKey.existingSecret }}
{{- $a = append $a (printf "--receipt-key-file=/etc/attestd/receipt/%s" $v.receiptKey.secretKey) }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $a = append $a "--tls-cert=/etc/attestd/tls/tls.crt" }}
{{- $a = append $a "--tls-key=/etc/attestd/tls/tls.key" }}
{{- if $v.tls.clientCA.existingSecret }}
{{- $a = append $a (printf "--client-ca=/etc/attestd/client-ca/%s" $v.tls.clientCA.secretKey) }}
{{- end }}
{{- end }}
{{- $a = append $a (printf "--rate-limit=%v" $v.http.rateLimit) }}
{{- $a = append $a (printf "--rate-burst=%d" (int64 $v.http.rateBurst)) }}
{{- $a = append $a (printf "--max-pending=%d" (int64 $v.http.maxPending)) }}
{{- $a = append $a (printf "--max-body=%d" (int64 $v.http.maxBodyBytes)) }}
{{- $a = append $a (printf "--shutdown-timeout=%ds" (int $v.shutdownTimeoutSeconds)) }}
{{- if $v.backup.enabled }}
{{- $a = append $a "--backup-dir=/var/lib/attestd-backups" }}
{{- $a = append $a (printf "--backup-every=%s" $v.backup.every) }}
{{- $a = append $a (printf "--backup-keep=%d" (int64 $v.backup.keep)) }}
{{- end }}
{{- range $v.extraArgs }}
{{- $a = append $a (toString .) }}
{{- end }}
{{- toYaml $a }}
{{- end }}

{{/*
The files of the chains list's Secrets, as a list of dicts (secret, key,
path): each chain's under <id>/ of the projected volume mounted at
/etc/attestd/chains. attestd.chainsConfig names the same paths.
*/}}
{{- define "attestd.chainFiles" -}}
{{- $files := list }}
{{- range $c := .Values.chains }}
{{- $id := int64 $c.id }}
{{- $k := default dict $c.anchorKey }}
{{- if eq (default "hex" $k.type) "keystore" }}
{{- $files = append $files (dict "secret" $k.existingSecret "key" (default "keystore.json" $k.keystoreSecretKey) "path" (printf "%d/keystore.json" $id)) }}
{{- $files = append $files (dict "secret" $k.existingSecret "key" (default "password" $k.passwordSecretKey) "path" (printf "%d/password" $id)) }}
{{- else }}
{{- $files = append $files (dict "secret" $k.existingSecret "key" (default "anchor.key" $k.hexSecretKey) "path" (printf "%d/anchor.key" $id)) }}
{{- end }}
{{- if $c.rpcExistingSecret }}
{{- $files = append $files (dict "secret" $c.rpcExistingSecret "key" (default "rpc-url" $c.rpcExistingSecretKey) "path" (printf "%d/rpc-url" $id)) }}
{{- end }}
{{- end }}
{{- toYaml (dict "files" $files) }}
{{- end }}

{{/*
The --config file of the chains list: serve's chains: entries (README.md,
"Several chains"). It holds no secret: an endpoint with a credential
(rpcExistingSecret) and the keys are files of the mounted Secrets.
*/}}
{{- define "attestd.chainsConfig" -}}
{{- $list := list }}
{{- range $c := .Values.chains }}
{{- $id := int64 $c.id }}
{{- $dir := printf "/etc/attestd/chains/%d" $id }}
{{- $e := dict "id" $id }}
{{- with $c.name }}{{ $_ := set $e "name" . }}{{ end }}
{{- if $c.rpcExistingSecret }}
{{- $_ := set $e "rpc-file" (printf "%s/rpc-url" $dir) }}
{{- else }}
{{- $_ := set $e "rpc" $c.rpc }}
{{- end }}
{{- if eq (default "hex" (default dict $c.anchorKey).type) "keystore" }}
{{- $_ := set $e "keystore" (printf "%s/keystore.json" $dir) }}
{{- $_ := set $e "password-file" (printf "%s/password" $dir) }}
{{- else }}
{{- $_ := set $e "key-file" (printf "%s/anchor.key" $dir) }}
{{- end }}
{{- with $c.confirmations }}{{ $_ := set $e "confirmations" (int64 .) }}{{ end }}
{{- with $c.maxFeeGwei }}{{ $_ := set $e "max-fee" . }}{{ end }}
{{- with $c.sink }}{{ $_ := set $e "sink" . }}{{ end }}
{{- with $c.fromBatch }}{{ $_ := set $e "from-batch" (int64 .) }}{{ end }}
{{- $list = append $list $e }}
{{- end }}
{{- toYaml (dict "chains" $list) }}
{{- end }}

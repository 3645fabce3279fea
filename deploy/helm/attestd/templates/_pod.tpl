{{/*
The pod template shared by the StatefulSet (embedded store) and the
Deployment (Redis).
*/}}
{{- define "attestd.podTemplate" -}}
{{- $v := .Values -}}
metadata:
  labels:
    {{- include "attestd.selectorLabels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $v.podAnnotations $v.chains }}
  annotations:
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if $v.chains }}
    # A changed chains list (the --config file) restarts the pods.
    checksum/config: {{ include "attestd.chainsConfig" . | sha256sum }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "attestd.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ include "attestd.terminationGracePeriodSeconds" . }}
  containers:
    - name: attestd
      image: {{ include "attestd.image" . | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      {{- with $v.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      args:
        {{- include "attestd.args" . | nindent 8 }}
      env:
        - name: GOMEMLIMIT
          valueFrom:
            resourceFieldRef:
              resource: limits.memory
        {{- if and (include "attestd.redis" .) $v.store.redis.existingSecret }}
        - name: ATTESTD_REDIS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ $v.store.redis.existingSecret | quote }}
              key: {{ $v.store.redis.existingSecretPasswordKey | quote }}
        {{- end }}
        {{- if $v.chain.rpcExistingSecret }}
        - name: ATTESTD_CHAIN_RPC
          valueFrom:
            secretKeyRef:
              name: {{ $v.chain.rpcExistingSecret | quote }}
              key: {{ $v.chain.rpcExistingSecretKey | quote }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: {{ include "attestd.scheme" . }}
          containerPort: 8080
          protocol: TCP
      {{- range $probe, $path := dict "startupProbe" "/healthz" "livenessProbe" "/healthz" "readinessProbe" "/readyz" }}
      {{- $p := index $v $probe }}
      {{- if $p.enabled }}
      {{ $probe }}:
        httpGet:
          path: {{ $path }}
          port: {{ include "attestd.scheme" $ }}
          scheme: {{ include "attestd.scheme" $ | upper }}
        {{- with omit $p "enabled" }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- end }}
      {{- with $v.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      {{- with $v.lifecycle }}
      lifecycle:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/attestd
        {{- if $v.backup.enabled }}
        - name: backups
          mountPath: /var/lib/attestd-backups
        {{- end }}
        {{- if $v.chains }}
        - name: config
          mountPath: /etc/attestd/config
          readOnly: true
        - name: chains
          mountPath: /etc/attestd/chains
          readOnly: true
        {{- else }}
        - name: chain-key
          mountPath: /etc/attestd/chain
          readOnly: true
        {{- end }}
        - name: api-keys
          mountPath: /etc/attestd/api-keys
          readOnly: true
        {{- if $v.receiptKey.existingSecret }}
        - name: receipt-key
          mountPath: /etc/attestd/receipt
          readOnly: true
        {{- end }}
        {{- if $v.tls.enabled }}
        - name: tls
          mountPath: /etc/attestd/tls
          readOnly: true
        {{- if $v.tls.clientCA.existingSecret }}
        - name: client-ca
          mountPath: /etc/attestd/client-ca
          readOnly: true
        {{- end }}
        {{- end }}
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if include "attestd.redis" . }}
    - name: data
      emptyDir:
        sizeLimit: 64Mi
    {{- else if $v.persistence.existingClaim }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ $v.persistence.existingClaim | quote }}
    {{- end }}
    {{- if and $v.backup.enabled $v.backup.persistence.existingClaim }}
    - name: backups
      persistentVolumeClaim:
        claimName: {{ $v.backup.persistence.existingClaim | quote }}
    {{- end }}
    {{- if $v.chains }}
    # The chains list: the --config file (no secrets) and, under <id>/,
    # each chain's key and endpoint from its Secrets.
    - name: config
      configMap:
        name: {{ include "attestd.fullname" . }}-config
        defaultMode: 288
        items:
          - key: config.yaml
            path: config.yaml
    - name: chains
      projected:
        defaultMode: 288 # 0440: readable by the fsGroup
        sources:
          {{- range (include "attestd.chainFiles" . | fromYaml).files }}
          - secret:
              name: {{ .secret | quote }}
              items:
                - key: {{ .key | quote }}
                  path: {{ .path | quote }}
          {{- end }}
    {{- else }}
    - name: chain-key
      secret:
        secretName: {{ $v.chain.anchorKey.existingSecret | quote }}
        defaultMode: 288 # 0440: readable by the fsGroup
        items:
          {{- if eq $v.chain.anchorKey.type "keystore" }}
          - key: {{ $v.chain.anchorKey.keystoreSecretKey | quote }}
            path: {{ $v.chain.anchorKey.keystoreSecretKey | quote }}
          - key: {{ $v.chain.anchorKey.passwordSecretKey | quote }}
            path: {{ $v.chain.anchorKey.passwordSecretKey | quote }}
          {{- else }}
          - key: {{ $v.chain.anchorKey.hexSecretKey | quote }}
            path: {{ $v.chain.anchorKey.hexSecretKey | quote }}
          {{- end }}
    {{- end }}
    # A directory mount (no subPath): an updated Secret reaches the pod and
    # attestd reloads the keys file without a restart.
    - name: api-keys
      secret:
        secretName: {{ $v.apiKeys.existingSecret | quote }}
        defaultMode: 288
        items:
          - key: {{ $v.apiKeys.secretKey | quote }}
            path: {{ $v.apiKeys.secretKey | quote }}
    {{- if $v.receiptKey.existingSecret }}
    - name: receipt-key
      secret:
        secretName: {{ $v.receiptKey.existingSecret | quote }}
        defaultMode: 288
        items:
          - key: {{ $v.receiptKey.secretKey | quote }}
            path: {{ $v.receiptKey.secretKey | quote }}
    {{- end }}
    {{- if $v.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ $v.tls.existingSecret | quote }}
        defaultMode: 288
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- if $v.tls.clientCA.existingSecret }}
    - name: client-ca
      secret:
        secretName: {{ $v.tls.clientCA.existingSecret | quote }}
        defaultMode: 288
        items:
          - key: {{ $v.tls.clientCA.secretKey | quote }}
            path: {{ $v.tls.clientCA.secretKey | quote }}
    {{- end }}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.affinity }}
  affinity:
    {{- toYaml $v.affinity | nindent 4 }}
  {{- else if and (include "attestd.redis" .) (eq $v.podAntiAffinity "soft") }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "attestd.selectorLabels" . | nindent 16 }}
  {{- else if and (include "attestd.redis" .) (eq $v.podAntiAffinity "hard") }}
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "attestd.selectorLabels" . | nindent 14 }}
  {{- end }}
{{- end }}

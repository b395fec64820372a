{{/* Names and labels. */}}
{{- define "lattice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lattice.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lattice.labels" -}}
{{ include "lattice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "lattice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lattice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL, or "" when none is needed. */}}
{{- define "lattice.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.database.url -}}
{{- include "lattice.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the at-rest key, or "" when encryption is off. */}}
{{- define "lattice.encryptionSecret" -}}
{{- if .Values.encryption.enabled -}}
{{- if .Values.encryption.existingSecret -}}
{{- .Values.encryption.existingSecret -}}
{{- else if regexMatch "^[0-9a-fA-F]{64}$" (required "encryption.enabled needs encryption.key or encryption.existingSecret" .Values.encryption.key) -}}
{{- include "lattice.fullname" . -}}
{{- else -}}
{{- fail "encryption.key must be 64 hex digits (lattice generate-key prints one)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* host[:port] of publicBaseUrl, and of the server name. */}}
{{- define "lattice.publicHost" -}}
{{- (urlParse (required "publicBaseUrl is required (https://matrix.example.org)" .Values.publicBaseUrl)).host -}}
{{- end -}}

{{/* The host part of the server name, for the .well-known route. */}}
{{- define "lattice.serverNameHost" -}}
{{- regexReplaceAll ":[0-9]+$" (required "serverName is required" .Values.serverName) "" -}}
{{- end -}}

{{/*
lattice.toml: the chart's own settings over .Values.config. Written by
hand rather than with toToml, which prints every YAML number as a float
(20 becomes 20.0, which Lattice's integer options rightly refuse).
*/}}
{{- define "lattice.config" -}}
{{- $server := dict "server_name" (required "serverName is required" .Values.serverName) "bind" (printf "0.0.0.0:%d" (int .Values.service.port)) "data_dir" "/data" -}}
{{- with .Values.publicBaseUrl }}{{ $_ := set $server "public_baseurl" . }}{{ end -}}
{{- $federation := dict "enabled" .Values.federation.enabled -}}
{{- if and .Values.ingress.enabled .Values.federation.enabled .Values.federation.wellKnown -}}
{{- $host := include "lattice.publicHost" . -}}
{{- $_ := set $federation "well_known_server" (contains ":" $host | ternary $host (printf "%s:443" $host)) -}}
{{- end -}}
{{- $chart := dict "server" $server "federation" $federation -}}
{{- if .Values.metrics.enabled -}}
{{- $_ := set $chart "metrics" (dict "bind" (printf "0.0.0.0:%d" (int .Values.metrics.port))) -}}
{{- end -}}
{{- if .Values.encryption.enabled -}}
{{- $_ := set $chart "encryption" (dict "key_file" "/etc/lattice/secrets/at-rest-key") -}}
{{- end -}}
{{- $merged := mustMergeOverwrite (deepCopy .Values.config) $chart -}}
{{- include "lattice.tomlTable" (dict "path" "" "table" $merged) -}}
{{- end -}}

{{/* A TOML table: its plain keys, then its sub-tables as [path.key]. */}}
{{- define "lattice.tomlTable" -}}
{{- $path := .path -}}
{{- range $key, $value := .table -}}
{{- if not (kindIs "map" $value) }}
{{ $key }} = {{ include "lattice.tomlValue" $value }}
{{- end -}}
{{- end -}}
{{- range $key, $value := .table -}}
{{- if kindIs "map" $value -}}
{{- $name := $path | empty | ternary $key (printf "%s.%s" $path $key) }}

[{{ $name }}]
{{- include "lattice.tomlTable" (dict "path" $name "table" $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A TOML value; whole numbers print as integers. */}}
{{- define "lattice.tomlValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else if or (kindIs "int" .) (kindIs "int64" .) (kindIs "bool" .) -}}
{{- . -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $item := . }}{{ if $i }}, {{ end }}{{ include "lattice.tomlValue" $item }}{{ end }}]
{{- else if kindIs "map" . -}}
{ {{- range $i, $key := keys . | sortAlpha }}{{ if $i }},{{ end }} {{ $key }} = {{ include "lattice.tomlValue" (get $ $key) }}{{ end }} }
{{- else -}}
{{- toJson (toString .) -}}
{{- end -}}
{{- end -}}

{{/*
Several replicas need PostgreSQL and media every pod can reach.
*/}}
{{- define "lattice.checkReplicas" -}}
{{- if not (include "lattice.databaseSecret" .) -}}
{{- fail "replicas > 1 needs PostgreSQL (database.url or database.existingSecret): SQLite belongs to one process" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
{{- fail "replicas > 1 needs media every pod can reach: a data volume they can all mount (persistence.accessModes [ReadWriteMany], or an existingClaim of that kind), or media in S3 (config.media.s3) with persistence.enabled=false" -}}
{{- end -}}
{{- end -}}

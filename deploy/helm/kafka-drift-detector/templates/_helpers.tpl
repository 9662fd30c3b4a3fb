{{/* app.kubernetes.io/name of every object. */}}
{{- define "kdd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name (drift-detector -> drift-detector-fraud). */}}
{{- define "kdd.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels. Context: dict "root" $ "component" "detector"|"router" ["model" NAME]. */}}
{{- define "kdd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kdd.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .model }}
kafka-drift-detector/model: {{ . }}
{{- end }}
{{- end }}

{{/* Every object's labels: the selector labels plus the chart's. Same context. */}}
{{- define "kdd.labels" -}}
{{ include "kdd.selectorLabels" . }}
app.kubernetes.io/part-of: kafka-drift-detector
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "kdd.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* One model's settings: detector defaults overridden by the model's own keys. */}}
{{- define "kdd.settings" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.detector) (omit (deepCopy .model) "name" "config")) }}
{{- end }}

{{/* A model's detector config as YAML: the values' config, `model` defaulting to the entry's
name and `metrics` binding all interfaces on the detector's metrics port (unless set). */}}
{{- define "kdd.detectorConfig" -}}
{{- $m := .model -}}
{{- $config := deepCopy (required (printf "models: %s needs a config" $m.name) $m.config) -}}
{{- if not (hasKey $config "model") }}{{ $_ := set $config "model" $m.name }}{{ end -}}
{{- $metrics := deepCopy (default dict $config.metrics) -}}
{{- if not (hasKey $metrics "host") }}{{ $_ := set $metrics "host" "0.0.0.0" }}{{ end -}}
{{- if not (hasKey $metrics "port") }}{{ $_ := set $metrics "port" .settings.metricsPort }}{{ end -}}
{{- if not (dig "enabled" true $metrics) -}}
{{- fail (printf "models: %s: metrics.enabled false would fail the probes on /healthz and /readyz" $m.name) -}}
{{- end -}}
{{- $_ := set $config "metrics" $metrics -}}
{{- toYaml $config }}
{{- end }}

{{/* The router config as YAML, `metrics` completed as for a detector. */}}
{{- define "kdd.routerConfig" -}}
{{- $config := deepCopy (required "router.config is required" .Values.router.config) -}}
{{- $metrics := deepCopy (default dict $config.metrics) -}}
{{- if not (hasKey $metrics "host") }}{{ $_ := set $metrics "host" "0.0.0.0" }}{{ end -}}
{{- if not (hasKey $metrics "port") }}{{ $_ := set $metrics "port" .Values.router.metricsPort }}{{ end -}}
{{- if not (dig "enabled" true $metrics) -}}
{{- fail "router.config: metrics.enabled false would fail the probes on /healthz and /readyz" -}}
{{- end -}}
{{- $_ := set $config "metrics" $metrics -}}
{{- toYaml $config }}
{{- end }}

{{/* Model names: DNS labels, unique, not "router" (the router's objects use that suffix). */}}
{{- define "kdd.validateModels" -}}
{{- $seen := dict -}}
{{- range .Values.models -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" (toString .name)) -}}
{{- fail (printf "models: name %q must be lowercase letters, digits and '-'" (toString .name)) -}}
{{- end -}}
{{- if eq .name "router" }}{{ fail "models: the name router is taken by the alert router" }}{{ end -}}
{{- if hasKey $seen .name }}{{ fail (printf "models: %s is listed twice" .name) }}{{ end -}}
{{- $_ := set $seen .name true -}}
{{- if gt (len (printf "%s-%s-metrics" (include "kdd.fullname" $) .name)) 63 -}}
{{- fail (printf "models: %s: %s-%s-metrics is longer than 63 characters" .name (include "kdd.fullname" $) .name) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* env and envFrom of a container. Context: dict "root" $ "settings" SETTINGS. */}}
{{- define "kdd.env" -}}
env:
  - name: KAFKA_BOOTSTRAP_SERVERS
    value: {{ .root.Values.kafka.bootstrapServers | quote }}
{{- with .root.Values.env }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .settings.env }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- if or .root.Values.existingSecret .settings.existingSecret .root.Values.envFrom .settings.envFrom }}
envFrom:
{{- with .root.Values.existingSecret }}
  - secretRef:
      name: {{ . }}
{{- end }}
{{- with .settings.existingSecret }}
  - secretRef:
      name: {{ . }}
{{- end }}
{{- with .root.Values.envFrom }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .settings.envFrom }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end }}
{{- end }}

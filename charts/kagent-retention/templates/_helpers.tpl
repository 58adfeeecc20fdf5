{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{/* Chart name, truncated to 63 characters. */}}
{{- define "kagent-retention.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else the release name when it contains the chart name, else both. */}}
{{- define "kagent-retention.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kagent-retention.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kagent-retention.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kagent-retention.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kagent-retention.labels" -}}
helm.sh/chart: {{ include "kagent-retention.chart" . }}
{{ include "kagent-retention.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kagent
{{- end -}}

{{- define "kagent-retention.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The service account the controller runs as: kagent's (sidecar) or its own (standalone). */}}
{{- define "kagent-retention.serviceAccountName" -}}
{{- if eq .Values.mode "sidecar" -}}
{{- default (printf "%s-controller" .Values.kagent.fullname) .Values.kagent.serviceAccountName -}}
{{- else if .Values.standalone.serviceAccount.create -}}
{{- default (include "kagent-retention.fullname" .) .Values.standalone.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.standalone.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kagent-retention.leaseName" -}}
{{- printf "kagent-retention-%s" .Values.policy.name -}}
{{- end -}}

{{/* Whether this release runs leader election (standalone with leaderElection). */}}
{{- define "kagent-retention.leaderElect" -}}
{{- if and (eq .Values.mode "standalone") .Values.standalone.leaderElection -}}true{{- end -}}
{{- end -}}

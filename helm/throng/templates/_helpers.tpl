{{/* The release's name for everything the chart makes. */}}
{{- define "throng.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "throng.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one role: coordinator or agent. */}}
{{- define "throng.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "throng.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret holding the API tokens and the cluster token. */}}
{{- define "throng.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "throng.fullname" .)) -}}
{{- end -}}

{{/* Environment every node shares. */}}
{{- define "throng.env" -}}
- name: THRONG_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if .Values.auth.enabled }}
- name: THRONG_CLUSTER_TOKEN_FILE
  value: /etc/throng/secret/cluster-token
{{- end }}
{{- end -}}

{{/*
Names follow the AWS Load Balancer Controller chart's scheme: the release name when it already
contains the chart name, else "<release>-<chart>"; fullnameOverride=aws-load-balancer-controller
gives exactly the names of the kustomize manifests in config/.
*/}}
{{- define "aws-lb-sg-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aws-lb-sg-controller.fullname" -}}
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

{{- define "aws-lb-sg-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aws-lb-sg-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aws-lb-sg-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aws-lb-sg-controller.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "aws-lb-sg-controller.chart" . }}
{{ include "aws-lb-sg-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{- define "aws-lb-sg-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "aws-lb-sg-controller.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* A map as the key=value,key=value text the controller's map flags take (keys sorted). */}}
{{- define "aws-lb-sg-controller.mapToCsv" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%v" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The port of a bind address ":8080" or "host:8080"; the default when it has none. */}}
{{- define "aws-lb-sg-controller.port" -}}
{{- $parts := splitList ":" (toString .address) -}}
{{- if gt (len $parts) 1 -}}{{ last $parts | default .default }}{{- else -}}{{ .default }}{{- end -}}
{{- end -}}


{{/* Names: <release>-deferred-diffusion, or the release name alone when it already says so. */}}
{{- define "dd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dd.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "api"). */}}
{{- define "dd.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image of the release; call with (dict "root" $ "name" "api"). */}}
{{- define "dd.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "dd.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "dd.fullname" .) -}}
{{- end -}}

{{- define "dd.apiUrl" -}}
{{- printf "http://%s-api.%s.svc:%v" (include "dd.fullname" .) .Release.Namespace .Values.api.service.port -}}
{{- end -}}

{{/* Queues /readyz waits for: those whose workers are always there (never scaled to zero). */}}
{{- define "dd.readyQueues" -}}
{{- $queues := list -}}
{{- range $queue, $kind := dict "gpu" .Values.gpuWorkers "cpu" .Values.cpuWorkers "comfy" .Values.comfyWorkers -}}
{{- $min := ternary $kind.autoscaling.minReplicas $kind.replicas $kind.autoscaling.enabled -}}
{{- if and $kind.enabled (gt (int $min) 0) -}}
{{- $queues = append $queues $queue -}}
{{- end -}}
{{- end -}}
{{- join "," (sortAlpha $queues) -}}
{{- end -}}

{{/* What the api and every worker need: the Redis URL (first its password, which it names). */}}
{{- define "dd.env" -}}
{{- if .Values.redis.enabled -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "dd.secretName" . }}, key: REDIS_PASSWORD}
- name: DDIFFUSION_REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@{{ include "dd.fullname" . }}-redis:6379/0"
{{- else if .Values.redis.urlSecret.name -}}
- name: DDIFFUSION_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.urlSecret.name }}, key: {{ .Values.redis.urlSecret.key }}}
{{- else -}}
- name: DDIFFUSION_REDIS_URL
  value: {{ required "redis: set redis.url or redis.urlSecret.name, or redis.enabled=true for the chart's own" .Values.redis.url | quote }}
{{- end }}
{{- end -}}

{{- define "dd.envFrom" -}}
- configMapRef: {name: {{ include "dd.fullname" . }}}
- secretRef: {name: {{ include "dd.secretName" . }}}
{{- range .Values.extraEnvFromSecrets }}
- secretRef: {name: {{ . }}}
{{- end }}
{{- end -}}

{{/* /data: the blob directory on the shared volume, or scratch when the blobs are in S3. */}}
{{- define "dd.dataVolume" -}}
- name: data
{{- if .Values.blobStore.s3.bucket }}
  emptyDir: {}
{{- else }}
  persistentVolumeClaim:
    claimName: {{ .Values.blobStore.sharedVolume.existingClaim | default (printf "%s-data" (include "dd.fullname" .)) }}
{{- end }}
{{- end -}}

{{- define "dd.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "dd.containerSecurity" -}}
allowPrivilegeEscalation: false
capabilities: {drop: [ALL]}
{{- end -}}

{{/* A worker that is asked to stop drains: the hook starts Celery's warm shutdown (SIGTERM to
the worker, PID 1) and waits until it has exited, so its task finishes within the drain time or
goes back to its queue before the kubelet's own SIGTERM. */}}
{{- define "dd.drainHook" -}}
preStop:
  exec:
    command: ["sh", "-c", "kill -TERM 1; while kill -0 1 2>/dev/null; do sleep 1; done"]
{{- end -}}

{{/* The Docker HEALTHCHECK's ping: answered by the worker's consumer loop, also while a task runs,
so it fails when the worker is wedged or has lost Redis, not merely when the process is gone. */}}
{{- define "dd.workerPing" -}}
exec:
  command: ["sh", "-c", "celery -A workers.app inspect ping --timeout 10 -d \"$WORKER_QUEUE@$HOSTNAME\" > /dev/null"]
timeoutSeconds: 20
{{- end -}}

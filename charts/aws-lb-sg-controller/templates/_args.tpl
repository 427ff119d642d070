{{/*
The controller's command line from the values: one `--name=value` per value that is set (null or
"" renders nothing, so the controller's own default applies; false and 0 are rendered), then
extraArgs verbatim. The names are the controller's flags; tests/charts/ parses the result with the
controller's own parser, so a misspelt name fails there.
*/}}
{{- define "aws-lb-sg-controller.args" -}}
{{- $v := .Values -}}
{{- $clusterName := required "clusterName is required: --set clusterName=<your cluster's name>" (tpl (toString (default "" $v.clusterName)) .) -}}
{{- $eniTags := $v.serviceTargetENISGTags -}}
{{- if kindIs "map" $eniTags -}}{{- $eniTags = include "aws-lb-sg-controller.mapToCsv" $eniTags -}}{{- end -}}
{{- /* Upstream's chart renders --default-target-type only when it is not the default. */ -}}
{{- $targetType := "" -}}
{{- if ne (toString $v.defaultTargetType) "instance" -}}{{- $targetType = $v.defaultTargetType -}}{{- end -}}
{{- $flags := list
  (list "aws-region" (tpl (toString (default "" $v.region)) .))
  (list "aws-vpc-id" (tpl (toString (default "" $v.vpcId)) .))
  (list "aws-vpc-tags" (include "aws-lb-sg-controller.mapToCsv" $v.vpcTags))
  (list "aws-api-endpoints" $v.awsApiEndpoints)
  (list "aws-api-throttle" (join "," $v.awsApiThrottle))
  (list "aws-max-retries" $v.awsMaxRetries)
  (list "ingress-class" $v.ingressClass)
  (list "load-balancer-class" $v.loadBalancerClass)
  (list "default-target-type" $targetType)
  (list "default-load-balancer-scheme" $v.defaultLoadBalancerScheme)
  (list "enable-backend-security-group" $v.enableBackendSecurityGroup)
  (list "backend-security-group" $v.backendSecurityGroup)
  (list "enable-manage-backend-security-group-rules" $v.enableManageBackendSecurityGroupRules)
  (list "disable-restricted-sg-rules" $v.disableRestrictedSecurityGroupRules)
  (list "service-target-eni-security-group-tags" $eniTags)
  (list "default-tags" (include "aws-lb-sg-controller.mapToCsv" $v.defaultTags))
  (list "external-managed-tags" (join "," $v.externalManagedTags))
  (list "max-port-ranges-per-source" $v.maxPortRangesPerSource)
  (list "endpoint-sg-coalesce-window" $v.endpointSGCoalesceWindow)
  (list "sg-rules-quota" $v.sgRulesQuota)
  (list "ingress-max-concurrent-reconciles" $v.ingressMaxConcurrentReconciles)
  (list "service-max-concurrent-reconciles" $v.serviceMaxConcurrentReconciles)
  (list "targetgroupbinding-max-concurrent-reconciles" $v.targetgroupbindingMaxConcurrentReconciles)
  (list "targetgroupbinding-max-exponential-backoff-delay" $v.targetgroupbindingMaxExponentialBackoffDelay)
  (list "targetgroupbinding-requeue-duration" $v.targetgroupbindingRequeueDuration)
  (list "sync-period" $v.syncPeriod)
  (list "watch-namespace" $v.watchNamespace)
  (list "feature-gates" (include "aws-lb-sg-controller.mapToCsv" $v.controllerConfig.featureGates))
  (list "log-level" $v.logLevel)
  (list "leader-election-id" $v.leaderElectionId)
  (list "metrics-bind-addr" $v.metricsBindAddr)
  (list "health-probe-bind-addr" $v.healthProbeBindAddr)
-}}
{{- $args := list (printf "--cluster-name=%s" $clusterName) -}}
{{- range $flags -}}
{{- $value := index . 1 -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- $args = append $args (printf "--%s=%v" (index . 0) $value) -}}
{{- end -}}
{{- end -}}
{{- toYaml (concat $args $v.extraArgs) -}}
{{- end -}}

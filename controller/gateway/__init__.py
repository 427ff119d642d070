"""Load balancers for Gateway API Gateways (upstream's ``gateway.k8s.aws/alb`` and ``/nlb`` controllers).

A Gateway whose GatewayClass names one of our controllers becomes one stack: an ALB or an NLB with
a listener per Gateway listener port, the routes attached to it as listener rules (ALB) or as the
listeners' target groups (NLB), TargetGroupBindings for the Services behind them, and the same
security groups as Ingresses and Services get (a managed frontend SG or the user's own, the shared
backend SG and the rules on node and pod ENI SGs). ``LoadBalancerConfiguration`` (``gateway.k8s.aws``)
configures it, from the GatewayClass and the Gateway, merged as upstream merges them.
"""

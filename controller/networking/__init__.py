"""The SG engine: rule model, cached batched reads, rule/tag reconcile, SG lifecycle, custom SG resolution."""

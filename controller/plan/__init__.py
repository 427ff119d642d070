"""``aws-lb-sg-controller plan``: every change the controller would make, computed by its own code over a dry-run AWS layer."""

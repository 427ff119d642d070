"""Leak report and clean-up: AWS resources tagged or labelled for this cluster that nothing owns.

``owners`` says what the cluster's live objects own, ``inventory`` reads what AWS holds, ``finder``
compares the two (``LeakReport``), ``apply`` removes the leaks through the controller's own
deletion paths, ``census`` exports the counts from the running controller, and ``cli`` is the
``aws-lb-sg-controller gc`` command.
"""

"""One sign-in across the deployment's domains: a portal with no session asks the others, and
one with a live session vouches with a single-use code the asking portal redeems for a session
of its own, in the same session family (``DOMAINS_FILE``)."""

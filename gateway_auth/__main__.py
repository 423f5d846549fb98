"""``python -m gateway_auth`` is the ``gateway-auth`` command."""

from gateway_auth.cli import main

raise SystemExit(main())

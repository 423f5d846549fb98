"""``python -m gateway_auth`` is the ``gateway-auth`` command."""

from gateway_auth.cli.main import main

raise SystemExit(main())

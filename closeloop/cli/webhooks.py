"""``closeloop webhooks secret``: a fresh Standard Webhooks signing secret for ``CLOSELOOP_WEBHOOK_SECRET``.

Registered in :mod:`closeloop.cli`; the forms a secret takes and the keys they give are in
:mod:`integrations.webhook_keys`.
"""

from __future__ import annotations

import typer

from closeloop.cli.common import err, fail
from integrations.webhook_keys import MAX_KEY_BYTES, MIN_KEY_BYTES, NEW_KEY_BYTES, new_webhook_secret

webhooks_app = typer.Typer(help="Outgoing webhooks: secret.", no_args_is_help=True)


@webhooks_app.command("secret")
def webhooks_secret(nbytes: int = typer.Option(NEW_KEY_BYTES, "--bytes",
                                               help=f"random bytes in the key ({MIN_KEY_BYTES} to {MAX_KEY_BYTES})")
                    ) -> None:
    """Print a fresh `whsec_<base64>` secret (random bytes from the operating system) on stdout, nothing else:
    `export CLOSELOOP_WEBHOOK_SECRET=$(closeloop webhooks secret)`. Give receivers the same string: Standard
    Webhooks libraries take it as is. Changing the secret breaks verification until every receiver has the new one
    (README "Rotating the secret"); a target with its own secret reads it from the variable its `[webhooks.<name>]`
    table names (README "A secret per target"): the same command makes that one."""
    try:
        secret = new_webhook_secret(nbytes)
    except ValueError:
        fail(f"--bytes: {MIN_KEY_BYTES} to {MAX_KEY_BYTES} (the Standard Webhooks bounds), got {nbytes}", 2)
    print(secret)
    err.print("set it as CLOSELOOP_WEBHOOK_SECRET and give receivers the same string (README \"Receiving webhooks\")",
              highlight=False)

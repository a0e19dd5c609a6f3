"""Mailchimp Marketing API access for the sync, split by job.  Import from the module you need:

* :mod:`.addresses` — the one address normalisation and subscriber hash (pure; the sync core
  uses it);
* :mod:`.limits` — Mailchimp's limits and the one chunker (pure);
* :mod:`.endpoints` — :class:`~.endpoints.MailchimpClient`, its calls by resource (members,
  segments, lists, campaigns, batches, account) and the ``/batches`` operation builders;
* :mod:`.transport` — httpx, auth, retries with full jitter and ``Retry-After``, the one
  concurrency limiter, "maybe applied" tracking;
* :mod:`.results` — typed results (per-row errors, bulk outcomes, batch operation results,
  OAuth metadata);
* :mod:`.runner` — :func:`~.runner.run_sync`, the one sync-to-async runner, and
  :func:`~.runner.gather_all`;
* :mod:`.oauth` — the OAuth metadata endpoint (data centre of a token);
* :mod:`.keys` — parse/validate API keys (``<32 hex>-<dc>``);
* :mod:`.settings` — where the API is: the base URL template (``MC_MAILCHIMP_BASE_URL``);
* :mod:`.errors` — typed errors from Mailchimp's problem+json answers;
* :mod:`.metrics` — per-run call counters for asset metadata;
* :mod:`.redact` — keeps keys out of logs and exception texts.

This package imports nothing eagerly, so importing :mod:`.addresses` never loads httpx; and
nothing of ``mc_pipelines`` outside itself (an import contract in ``.importlinter`` checks it).
"""

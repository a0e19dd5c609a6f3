"""Mailchimp webhook receiver: a small Starlette app that records Mailchimp-side events.

`POST /mailchimp/webhook/{org_id}/{secret}` (the secret from `mc-pipelines webhook-secret`)
stores each event once in `mailchimp_webhook_events`; unsubscribes and cleaned addresses also
withdraw consent in the application right away. The next status pull / sync reconciles the rest.
Serve it with `mc-pipelines webhooks --port 8787`.
"""

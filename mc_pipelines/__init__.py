"""mc_pipelines: Mailchimp audience sync as Dagster assets."""

"""The application's tables as external assets, so lineage in the UI starts at the source."""

from dagster import AssetSpec

from mc_pipelines.assets.common import APP_GROUP, DB_KIND, OWNERS


def _app_table(name: str, description: str) -> AssetSpec:
    return AssetSpec(
        key=["app", name], description=description, group_name=APP_GROUP, owners=OWNERS,
        kinds={DB_KIND}, metadata={"table": name},
    )


app_contacts = _app_table("contacts", "The application's contacts (owned by the application).")
app_contact_segments = _app_table("contact_segments", "Segments defined in the application: filters and the Mailchimp tag each manages.")
app_mailchimp_connections = _app_table("mailchimp_connections", "Each org's Mailchimp connection: encrypted key, audience, flags.")
app_consent_events = _app_table("consent_events", "GDPR trail of every consent change and its source.")
app_campaign_tracking = _app_table("campaign_tracking", "Campaigns the application tracks, with their latest stats.")

APP_TABLES = [app_contacts, app_contact_segments, app_mailchimp_connections, app_consent_events,
              app_campaign_tracking]

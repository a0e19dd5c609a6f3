"""The opt-in tags job: read every member's Mailchimp tags, then download them into the app.

Never scheduled: an operator (or the application, through the control API's sync requests)
launches it per org when the app should take the marketers' tags ("Download").
"""

from dagster import AssetSelection, define_asset_job

from mc_pipelines.assets.member_tags import contact_tags_download, mailchimp_member_tags
from mc_pipelines.partitions import org_partitions

contact_tags_download_job = define_asset_job(
    "contact_tags_download_job",
    selection=AssetSelection.assets(mailchimp_member_tags, contact_tags_download),
    partitions_def=org_partitions,
    description="Read every member's Mailchimp tags (full read) and add the tags the project does "
    "not manage to the app's contacts (opt-in; never removes an app tag).",
)

TAG_JOBS = [contact_tags_download_job]

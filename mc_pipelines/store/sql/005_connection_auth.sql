-- How the org's stored credential authenticates: an API key (`<32 hex>-<dc>`, HTTP Basic) or an
-- OAuth access token (Bearer; its data centre read from Mailchimp's OAuth metadata at connect
-- time and kept in server_prefix).
ALTER TABLE mailchimp_connections ADD COLUMN auth_kind VARCHAR(16) NOT NULL DEFAULT 'api_key';

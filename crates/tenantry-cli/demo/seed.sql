-- Run in every new demo tenant (migrations.seed_file): record which schema this is.
INSERT INTO tenant_info (name) SELECT current_schema() WHERE NOT EXISTS (SELECT 1 FROM tenant_info);

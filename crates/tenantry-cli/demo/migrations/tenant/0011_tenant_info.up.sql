-- Which tenant this schema belongs to: the example web app's GET /whoami reads it, so the
-- answer proves which schema served the request. Filled by the demo's seed file.
CREATE TABLE "tenant_info" ("name" text NOT NULL, "created_at" timestamptz NOT NULL DEFAULT now());

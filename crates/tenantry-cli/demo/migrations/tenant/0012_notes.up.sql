-- Notes the example web app reads and writes (GET/POST /notes) in each tenant's schema.
CREATE TABLE "notes" ("id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "body" text NOT NULL, "created_at" timestamptz NOT NULL DEFAULT now());

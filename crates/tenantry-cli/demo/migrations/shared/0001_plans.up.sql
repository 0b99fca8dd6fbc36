-- Plans every tenant can subscribe to: a shared table in the default schema.
CREATE TABLE "plans" ("name" text PRIMARY KEY, "monthly_cents" bigint NOT NULL);
INSERT INTO "plans" VALUES ('startup', 4900), ('business', 19900), ('enterprise', 99900);

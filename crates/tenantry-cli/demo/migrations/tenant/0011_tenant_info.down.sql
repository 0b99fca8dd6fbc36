DROP TABLE "tenant_info";

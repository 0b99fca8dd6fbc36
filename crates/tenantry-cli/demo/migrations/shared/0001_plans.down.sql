DROP TABLE "plans";

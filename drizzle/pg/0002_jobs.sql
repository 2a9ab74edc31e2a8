CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"model_version" text,
	"priority" integer NOT NULL,
	"status" text NOT NULL,
	"request" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer NOT NULL,
	"run_after" timestamp with time zone NOT NULL,
	"lease_token" text,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"result" text,
	"result_path" text,
	"result_size_bytes" bigint,
	"error" jsonb,
	"callback_url" text,
	"owner_key_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "jobs_status_run_after_idx" ON "jobs" USING btree ("status","run_after");--> statement-breakpoint
CREATE INDEX "jobs_model_name_idx" ON "jobs" USING btree ("model_name");--> statement-breakpoint
CREATE INDEX "jobs_owner_key_id_idx" ON "jobs" USING btree ("owner_key_id");--> statement-breakpoint
-- Requests and results are written once and read whole; float digits barely compress, so skip TOAST compression (src/registry/schema/pg.ts jsonText).
ALTER TABLE "jobs" ALTER COLUMN "request" SET STORAGE EXTERNAL;--> statement-breakpoint
ALTER TABLE "jobs" ALTER COLUMN "result" SET STORAGE EXTERNAL;

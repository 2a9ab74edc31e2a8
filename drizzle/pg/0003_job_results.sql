CREATE TABLE "job_results" (
	"key" text PRIMARY KEY NOT NULL,
	"job_id" text NOT NULL,
	"data" "bytea" NOT NULL,
	"size_bytes" bigint NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "result_store" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "callback_state" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "callback_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "callback_next_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "callback_last_error" text;--> statement-breakpoint
CREATE INDEX "job_results_job_id_idx" ON "job_results" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "jobs_callback_due_idx" ON "jobs" USING btree ("callback_state","callback_next_at");--> statement-breakpoint
-- Large answers are written once and read whole; float digits barely compress, so skip TOAST compression (as for jobs.result in 0002).
ALTER TABLE "job_results" ALTER COLUMN "data" SET STORAGE EXTERNAL;

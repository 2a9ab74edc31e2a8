CREATE TABLE `job_results` (
	`key` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`data` blob NOT NULL,
	`size_bytes` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `job_results_job_id_idx` ON `job_results` (`job_id`);--> statement-breakpoint
ALTER TABLE `jobs` ADD `result_store` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `callback_state` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `callback_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `callback_next_at` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `callback_last_error` text;--> statement-breakpoint
CREATE INDEX `jobs_callback_due_idx` ON `jobs` (`callback_state`,`callback_next_at`);
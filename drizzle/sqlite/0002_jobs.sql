CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`model_name` text NOT NULL,
	`model_version` text,
	`priority` integer NOT NULL,
	`status` text NOT NULL,
	`request` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer NOT NULL,
	`run_after` integer NOT NULL,
	`lease_token` text,
	`lease_owner` text,
	`lease_expires_at` integer,
	`result` text,
	`result_path` text,
	`result_size_bytes` integer,
	`error` text,
	`callback_url` text,
	`owner_key_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `jobs_status_run_after_idx` ON `jobs` (`status`,`run_after`);--> statement-breakpoint
CREATE INDEX `jobs_model_name_idx` ON `jobs` (`model_name`);--> statement-breakpoint
CREATE INDEX `jobs_owner_key_id_idx` ON `jobs` (`owner_key_id`);